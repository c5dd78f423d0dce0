using System;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace Worldline.Client.Json
{
    /// <summary>
    /// Exact decimal text to double and back. Mono's double.Parse (and so some Unity runtimes') is not always
    /// correctly rounded (it misreads some 17-digit and subnormal values) and its "R" format is not the shortest, but
    /// views hold the server's doubles bit for bit and context_digest hashes JavaScript's number text, so both
    /// directions are done here exactly: a fast path for short numbers, big-integer arithmetic for the rest.
    /// </summary>
    public static class DoubleConversion
    {
        static readonly double[] Pow10 =
        {
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
            1e19, 1e20, 1e21, 1e22,
        };

        static readonly BigInteger Two53 = BigInteger.One << 53;
        static readonly BigInteger Two52 = BigInteger.One << 52;

        /// <summary>
        /// The double nearest to a JSON number's text (ties to even), e.g. "-0.30000000000000004" or "5e-324". Returns
        /// ±Infinity when the value is beyond the double range. Throws <see cref="FormatException"/> on bad text.
        /// </summary>
        public static double Parse(string text)
        {
            if (text == null) throw new ArgumentNullException("text");
            int i = 0, n = text.Length;
            bool negative = false;
            if (i < n && (text[i] == '-' || text[i] == '+')) { negative = text[i] == '-'; i++; }
            var digits = new StringBuilder(24);
            int exp10 = 0;
            bool seenDigit = false, seenPoint = false;
            for (; i < n; i++)
            {
                char c = text[i];
                if (c >= '0' && c <= '9')
                {
                    seenDigit = true;
                    if (digits.Length == 0 && c == '0') { if (seenPoint) exp10--; continue; } // leading zeros
                    digits.Append(c);
                    if (seenPoint) exp10--;
                }
                else if (c == '.' && !seenPoint) seenPoint = true;
                else break;
            }
            if (!seenDigit) throw new FormatException("not a number: " + text);
            if (i < n && (text[i] == 'e' || text[i] == 'E'))
            {
                i++;
                bool expNegative = false;
                if (i < n && (text[i] == '-' || text[i] == '+')) { expNegative = text[i] == '-'; i++; }
                if (i >= n) throw new FormatException("not a number: " + text);
                long e = 0;
                for (; i < n; i++)
                {
                    char c = text[i];
                    if (c < '0' || c > '9') throw new FormatException("not a number: " + text);
                    if (e < 100000) e = e * 10 + (c - '0');
                }
                exp10 = (int)Math.Max(int.MinValue / 2, Math.Min(int.MaxValue / 2, exp10 + (expNegative ? -e : e)));
            }
            if (i != n) throw new FormatException("not a number: " + text);
            double v = FromDecimal(digits.ToString(), exp10);
            return negative ? -v : v;
        }

        /// <summary>The double nearest to digits × 10^exp10 (digits: decimal digits, no leading zeros, may be empty for 0).</summary>
        static double FromDecimal(string digits, int exp10)
        {
            // Trailing zeros only scale the exponent.
            int len = digits.Length;
            while (len > 0 && digits[len - 1] == '0') { len--; exp10++; }
            if (len == 0) return 0.0;
            if (len != digits.Length) digits = digits.Substring(0, len);
            // Magnitude bounds: value is in [10^(len-1+exp10), 10^(len+exp10)).
            if (len + exp10 > 310) return double.PositiveInfinity;
            if (len + exp10 < -324) return 0.0;
            // Clinger's fast path: both operands exact, one correctly rounded operation.
            if (len <= 15 && exp10 >= -22 && exp10 <= 22)
            {
                double m = (double)long.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
                return exp10 >= 0 ? m * Pow10[exp10] : m / Pow10[-exp10];
            }
            BigInteger num = BigInteger.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
            BigInteger den = BigInteger.One;
            if (exp10 >= 0) num *= BigInteger.Pow(10, exp10);
            else den = BigInteger.Pow(10, -exp10);
            return FromRatio(num, den);
        }

        // num/den > 0 as the nearest double: find s with 2^52 <= num/den/2^s < 2^53 (or s = -1074 for subnormals),
        // divide, round half to even.
        static double FromRatio(BigInteger num, BigInteger den)
        {
            int s = (int)(BitLength(num) - BitLength(den)) - 53;
            BigInteger q, r, divisor;
            while (true)
            {
                if (s < -1074) s = -1074;
                divisor = s >= 0 ? den << s : den;
                BigInteger scaled = s >= 0 ? num : num << -s;
                q = BigInteger.DivRem(scaled, divisor, out r);
                if (q >= Two53) { s++; continue; }
                if (q < Two52 && s > -1074) { s--; continue; }
                break;
            }
            int cmp = (r << 1).CompareTo(divisor);
            if (cmp > 0 || (cmp == 0 && !q.IsEven)) q += 1;
            if (q == Two53) { q = Two52; s++; }
            long mantissa = (long)q;
            if (mantissa < (1L << 52)) return BitConverter.Int64BitsToDouble(mantissa); // subnormal (s == -1074)
            long biased = s + 1075;
            if (biased >= 2047) return double.PositiveInfinity;
            return BitConverter.Int64BitsToDouble((biased << 52) | (mantissa - (1L << 52)));
        }

        static long BitLength(BigInteger v)
        {
            byte[] bytes = v.ToByteArray(); // little-endian two's complement; v > 0
            int top = bytes.Length - 1;
            while (top > 0 && bytes[top] == 0) top--;
            int b = bytes[top], bits = 0;
            while (b != 0) { bits++; b >>= 1; }
            return top * 8L + bits;
        }

        /// <summary>
        /// The fewest significant decimal digits that read back as x (x finite and &gt; 0), choosing the nearest when
        /// several of that length do, as ECMAScript's Number::toString does: x = 0.digits × 10^pointPosition.
        /// </summary>
        public static void ShortestDigits(double x, out string digits, out int pointPosition)
        {
            if (!(x > 0) || double.IsInfinity(x)) throw new ArgumentOutOfRangeException("x", "finite and positive only");
            long bits = BitConverter.DoubleToInt64Bits(x);
            int biased = (int)(bits >> 52) & 0x7FF;
            long fraction = bits & ((1L << 52) - 1);
            long m = biased == 0 ? fraction : fraction | (1L << 52);
            int e2 = biased == 0 ? -1074 : biased - 1075;
            // The exact decimal expansion of x: m × 2^e2 = exact × 10^exactExp.
            string exact;
            int exactExp;
            if (e2 >= 0) { exact = (new BigInteger(m) << e2).ToString(CultureInfo.InvariantCulture); exactExp = 0; }
            else { exact = (new BigInteger(m) * BigInteger.Pow(5, -e2)).ToString(CultureInfo.InvariantCulture); exactExp = e2; }
            int point = exact.Length + exactExp; // x = 0.exact × 10^point

            // Any decimal of at most 15 digits survives a trip through a normal double, so rounding to 15 digits
            // finds the shortest form when it is that short (trailing zeros stripped below); else 16; 17 always reads
            // back. Subnormals hold fewer digits, so for them every length is tried.
            for (int p = biased == 0 ? 1 : 15; p <= 17; p++)
            {
                string nearest;
                int nearestPoint;
                int direction = RoundTo(exact, point, p, out nearest, out nearestPoint);
                if (p == 17 || Reads(nearest, nearestPoint, x)) { Strip(nearest, nearestPoint, out digits, out pointPosition); return; }
                // Next to a power of two the doubles below are closer together than those above, so the nearest
                // decimal may miss while its neighbour on the other side still reads back.
                string other;
                int otherPoint;
                Step(nearest, nearestPoint, direction > 0 ? -1 : 1, out other, out otherPoint);
                if (other != null && Reads(other, otherPoint, x)) { Strip(other, otherPoint, out digits, out pointPosition); return; }
            }
            throw new InvalidOperationException("unreachable");
        }

        static bool Reads(string digits, int point, double x)
        {
            return FromDecimal(digits, point - digits.Length) == x;
        }

        static void Strip(string d, int point, out string digits, out int pointPosition)
        {
            int len = d.Length;
            while (len > 1 && d[len - 1] == '0') len--;
            digits = d.Substring(0, len);
            pointPosition = point;
        }

        // Rounds 0.exact × 10^point to p digits, half to even. Returns +1 when rounded up, -1 when down, 0 when exact.
        static int RoundTo(string exact, int point, int p, out string digits, out int outPoint)
        {
            outPoint = point;
            if (exact.Length <= p) { digits = exact.PadRight(p, '0'); return 0; }
            var head = new StringBuilder(exact, 0, p, p + 1);
            char next = exact[p];
            bool restZero = true;
            for (int i = p + 1; i < exact.Length; i++) if (exact[i] != '0') { restZero = false; break; }
            bool up = next > '5' || (next == '5' && (!restZero || ((head[p - 1] - '0') & 1) == 1));
            if (next == '0' && restZero) { digits = head.ToString(); return 0; }
            if (!up) { digits = head.ToString(); return -1; }
            string rounded;
            Step(head.ToString(), point, 1, out rounded, out outPoint);
            digits = rounded;
            return 1;
        }

        // The p-digit decimal one unit in the last place above (+1) or below (-1); null below the smallest.
        static void Step(string d, int point, int delta, out string digits, out int outPoint)
        {
            var c = d.ToCharArray();
            outPoint = point;
            int i = c.Length - 1;
            if (delta > 0)
            {
                while (i >= 0 && c[i] == '9') { c[i] = '0'; i--; }
                if (i < 0) { digits = "1" + new string(c, 0, c.Length - 1); outPoint = point + 1; return; }
                c[i]++;
            }
            else
            {
                while (i >= 0 && c[i] == '0') { c[i] = '9'; i--; }
                if (i < 0) { digits = null; return; }
                c[i]--;
                if (i == 0 && c[0] == '0')
                {
                    // 1000 - 1 = 0999: renormalise to 9999 one decade lower.
                    digits = new string(c, 1, c.Length - 1) + "9";
                    outPoint = point - 1;
                    return;
                }
            }
            digits = new string(c);
        }
    }
}
