using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Worldline.Client.Json
{
    /// <summary>
    /// Writes the DOM as JSON text the way JavaScript's JSON.stringify does (shortest round-trip numbers, the same
    /// string escapes), and as RFC 8785 canonical JSON (keys sorted by UTF-16 code units), which is what the server
    /// hashes into context_digest.
    /// </summary>
    public static class JsonWriter
    {
        /// <summary>Compact JSON text, keys in the object's order.</summary>
        public static string Write(JsonValue value)
        {
            var sb = new StringBuilder();
            Write(sb, value, false);
            return sb.ToString();
        }

        /// <summary>RFC 8785 canonical JSON text.</summary>
        public static string WriteCanonical(JsonValue value)
        {
            var sb = new StringBuilder();
            Write(sb, value, true);
            return sb.ToString();
        }

        /// <summary>UTF-8 bytes of the compact text (for the proto `*_json` fields).</summary>
        public static byte[] ToUtf8(JsonValue value)
        {
            return Encoding.UTF8.GetBytes(Write(value));
        }

        static void Write(StringBuilder sb, JsonValue value, bool canonical)
        {
            if (value == null) { sb.Append("null"); return; }
            switch (value.Kind)
            {
                case JsonKind.Null: sb.Append("null"); return;
                case JsonKind.Boolean: sb.Append(((JsonBool)value).Value ? "true" : "false"); return;
                case JsonKind.Number: sb.Append(FormatNumber(((JsonNumber)value).Value)); return;
                case JsonKind.String: WriteString(sb, ((JsonString)value).Value); return;
                case JsonKind.Array:
                    {
                        sb.Append('[');
                        bool first = true;
                        foreach (var item in (JsonArray)value)
                        {
                            if (!first) sb.Append(',');
                            first = false;
                            Write(sb, item, canonical);
                        }
                        sb.Append(']');
                        return;
                    }
                default:
                    {
                        var o = (JsonObject)value;
                        IEnumerable<string> keys = o.Keys;
                        if (canonical)
                        {
                            var sorted = new List<string>(o.Keys);
                            sorted.Sort(string.CompareOrdinal); // UTF-16 code unit order, as RFC 8785 requires
                            keys = sorted;
                        }
                        sb.Append('{');
                        bool first = true;
                        foreach (var k in keys)
                        {
                            if (!first) sb.Append(',');
                            first = false;
                            WriteString(sb, k);
                            sb.Append(':');
                            Write(sb, o[k], canonical);
                        }
                        sb.Append('}');
                        return;
                    }
            }
        }

        static void WriteString(StringBuilder sb, string s)
        {
            sb.Append('"');
            for (int i = 0; i < s.Length; i++)
            {
                char c = s[i];
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\b': sb.Append("\\b"); break;
                    case '\f': sb.Append("\\f"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        if (c < 0x20) AppendEscape(sb, c);
                        else if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { sb.Append(c).Append(s[i + 1]); i++; }
                        else if (char.IsSurrogate(c)) AppendEscape(sb, c); // a lone surrogate, as well-formed JSON.stringify writes it
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
        }

        static void AppendEscape(StringBuilder sb, char c)
        {
            sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
        }

        /// <summary>
        /// A double as ECMAScript's Number::toString writes it: the fewest significant digits that read back as the
        /// same double, plain notation for exponents -7 &lt; e &lt; 21, else "1.5e+300". Not finite: "null", as
        /// JSON.stringify writes it.
        /// </summary>
        public static string FormatNumber(double d)
        {
            if (double.IsNaN(d) || double.IsInfinity(d)) return "null";
            if (d == 0) return "0"; // -0 too
            if (d == Math.Floor(d) && Math.Abs(d) < 1e15) return ((long)d).ToString(CultureInfo.InvariantCulture);

            string digits;
            int n; // |d| = 0.digits * 10^n
            DoubleConversion.ShortestDigits(Math.Abs(d), out digits, out n);
            int k = digits.Length;
            var sb = new StringBuilder(24);
            if (d < 0) sb.Append('-');
            if (k <= n && n <= 21)
            {
                sb.Append(digits).Append('0', n - k);
            }
            else if (0 < n && n <= 21)
            {
                sb.Append(digits, 0, n).Append('.').Append(digits, n, k - n);
            }
            else if (-6 < n && n <= 0)
            {
                sb.Append("0.").Append('0', -n).Append(digits);
            }
            else
            {
                sb.Append(digits[0]);
                if (k > 1) sb.Append('.').Append(digits, 1, k - 1);
                sb.Append('e').Append(n - 1 >= 0 ? '+' : '-').Append(Math.Abs(n - 1).ToString(CultureInfo.InvariantCulture));
            }
            return sb.ToString();
        }
    }
}
