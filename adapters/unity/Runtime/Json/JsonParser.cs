using System;
using System.Globalization;
using System.Text;

namespace Worldline.Client.Json
{
    /// <summary>Bad JSON text: the message says where and what.</summary>
    public sealed class JsonParseException : FormatException
    {
        public readonly int Position;
        public JsonParseException(string message, int position) : base(message + " at offset " + position) { Position = position; }
    }

    /// <summary>A strict RFC 8259 parser into the <see cref="JsonValue"/> DOM.</summary>
    public static class JsonParser
    {
        /// <summary>Deeper nesting than this is refused (the server itself accepts at most 64 levels).</summary>
        public const int MaxDepth = 256;

        public static JsonValue Parse(string text)
        {
            if (text == null) throw new ArgumentNullException("text");
            var p = new State(text);
            p.SkipWhitespace();
            var v = p.ReadValue(0);
            p.SkipWhitespace();
            if (p.Pos != text.Length) throw p.Fail("unexpected text after the JSON value");
            return v;
        }

        /// <summary>Parses UTF-8 JSON bytes (as carried in the proto `*_json` fields); empty bytes are null.</summary>
        public static JsonValue ParseUtf8(byte[] utf8)
        {
            if (utf8 == null || utf8.Length == 0) return JsonNull.Instance;
            return Parse(new UTF8Encoding(false, true).GetString(utf8));
        }

        sealed class State
        {
            readonly string s;
            public int Pos;
            public State(string text) { s = text; }

            public JsonParseException Fail(string message) { return new JsonParseException(message, Pos); }

            public void SkipWhitespace()
            {
                while (Pos < s.Length)
                {
                    char c = s[Pos];
                    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') Pos++;
                    else break;
                }
            }

            public JsonValue ReadValue(int depth)
            {
                if (Pos >= s.Length) throw Fail("unexpected end of JSON");
                char c = s[Pos];
                switch (c)
                {
                    case '{': return ReadObject(depth + 1);
                    case '[': return ReadArray(depth + 1);
                    case '"': return new JsonString(ReadString());
                    case 't': Literal("true"); return JsonBool.True;
                    case 'f': Literal("false"); return JsonBool.False;
                    case 'n': Literal("null"); return JsonNull.Instance;
                    default:
                        if (c == '-' || (c >= '0' && c <= '9')) return ReadNumber();
                        throw Fail("unexpected character '" + c + "'");
                }
            }

            void Literal(string word)
            {
                if (string.CompareOrdinal(s, Pos, word, 0, word.Length) != 0) throw Fail("invalid literal");
                Pos += word.Length;
            }

            JsonObject ReadObject(int depth)
            {
                if (depth > MaxDepth) throw Fail("JSON nested deeper than " + MaxDepth + " levels");
                Pos++;
                var o = new JsonObject();
                SkipWhitespace();
                if (Pos < s.Length && s[Pos] == '}') { Pos++; return o; }
                while (true)
                {
                    SkipWhitespace();
                    if (Pos >= s.Length || s[Pos] != '"') throw Fail("expected a string key");
                    string key = ReadString();
                    SkipWhitespace();
                    if (Pos >= s.Length || s[Pos] != ':') throw Fail("expected ':'");
                    Pos++;
                    SkipWhitespace();
                    // A repeated key keeps the last value, as JSON.parse does.
                    o.Set(key, ReadValue(depth));
                    SkipWhitespace();
                    if (Pos >= s.Length) throw Fail("unexpected end inside an object");
                    if (s[Pos] == ',') { Pos++; continue; }
                    if (s[Pos] == '}') { Pos++; return o; }
                    throw Fail("expected ',' or '}'");
                }
            }

            JsonArray ReadArray(int depth)
            {
                if (depth > MaxDepth) throw Fail("JSON nested deeper than " + MaxDepth + " levels");
                Pos++;
                var a = new JsonArray();
                SkipWhitespace();
                if (Pos < s.Length && s[Pos] == ']') { Pos++; return a; }
                while (true)
                {
                    SkipWhitespace();
                    a.Add(ReadValue(depth));
                    SkipWhitespace();
                    if (Pos >= s.Length) throw Fail("unexpected end inside an array");
                    if (s[Pos] == ',') { Pos++; continue; }
                    if (s[Pos] == ']') { Pos++; return a; }
                    throw Fail("expected ',' or ']'");
                }
            }

            string ReadString()
            {
                Pos++; // opening quote
                int start = Pos;
                // Fast path: no escapes.
                while (Pos < s.Length)
                {
                    char c = s[Pos];
                    if (c == '"') { string plain = s.Substring(start, Pos - start); Pos++; return plain; }
                    if (c == '\\') break;
                    if (c < 0x20) throw Fail("control character in a string");
                    Pos++;
                }
                var sb = new StringBuilder(s, start, Pos - start, Pos - start + 16);
                while (true)
                {
                    if (Pos >= s.Length) throw Fail("unterminated string");
                    char c = s[Pos++];
                    if (c == '"') return sb.ToString();
                    if (c < 0x20) { Pos--; throw Fail("control character in a string"); }
                    if (c != '\\') { sb.Append(c); continue; }
                    if (Pos >= s.Length) throw Fail("unterminated escape");
                    char e = s[Pos++];
                    switch (e)
                    {
                        case '"': sb.Append('"'); break;
                        case '\\': sb.Append('\\'); break;
                        case '/': sb.Append('/'); break;
                        case 'b': sb.Append('\b'); break;
                        case 'f': sb.Append('\f'); break;
                        case 'n': sb.Append('\n'); break;
                        case 'r': sb.Append('\r'); break;
                        case 't': sb.Append('\t'); break;
                        case 'u':
                            if (Pos + 4 > s.Length) throw Fail("truncated \\u escape");
                            int code;
                            if (!int.TryParse(s.Substring(Pos, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out code)) throw Fail("bad \\u escape");
                            sb.Append((char)code);
                            Pos += 4;
                            break;
                        default:
                            Pos--;
                            throw Fail("bad escape '\\" + e + "'");
                    }
                }
            }

            JsonValue ReadNumber()
            {
                int start = Pos;
                if (s[Pos] == '-') Pos++;
                if (Pos >= s.Length) throw Fail("truncated number");
                if (s[Pos] == '0') Pos++;
                else if (s[Pos] >= '1' && s[Pos] <= '9') { while (Pos < s.Length && IsDigit(s[Pos])) Pos++; }
                else throw Fail("bad number");
                if (Pos < s.Length && s[Pos] == '.')
                {
                    Pos++;
                    if (Pos >= s.Length || !IsDigit(s[Pos])) throw Fail("digit expected after '.'");
                    while (Pos < s.Length && IsDigit(s[Pos])) Pos++;
                }
                if (Pos < s.Length && (s[Pos] == 'e' || s[Pos] == 'E'))
                {
                    Pos++;
                    if (Pos < s.Length && (s[Pos] == '+' || s[Pos] == '-')) Pos++;
                    if (Pos >= s.Length || !IsDigit(s[Pos])) throw Fail("digit expected in exponent");
                    while (Pos < s.Length && IsDigit(s[Pos])) Pos++;
                }
                double d = DoubleConversion.Parse(s.Substring(start, Pos - start));
                if (double.IsInfinity(d)) throw new JsonParseException("number out of the double range", start);
                return new JsonNumber(d);
            }

            static bool IsDigit(char c) { return c >= '0' && c <= '9'; }
        }
    }
}
