using System;
using Worldline.Client.Json;

namespace Worldline.Client.Tests
{
    static class JsonTests
    {
        public static void Run(T t)
        {
            // Parse and write back, as JSON.stringify would.
            string text = "{\"a\":[1,-2.5,true,false,null,\"s\"],\"b\":{\"c\":{}},\"d\":[]}";
            t.Equal(text, JsonValue.Parse(text).ToString(), "round trip of a mixed document");
            t.Equal("\"tab\\t\\\"q\\\"\\u0001é\u2028\\ud800\"", JsonWriter.Write(new JsonString("tab\t\"q\"\u0001é\u2028\ud800")), "string escapes as JSON.stringify writes them");
            t.Equal("Zoë 🚀", JsonValue.Parse("\"Zo\\u00eb \\ud83d\\ude80\"").AsString, "\\u escapes with a surrogate pair");
            t.Equal("{\"k\":2}", JsonValue.Parse("{\"k\":1,\"k\":2}").ToString(), "a repeated key keeps the last value");
            foreach (var badText in new[] { "", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "tru", "\"\\x\"", "\"a\nb\"", "1 2", "{'a':1}", "NaN", "1e999" })
                t.Throws<JsonParseException>(() => JsonValue.Parse(badText), "refuses " + badText);
            t.Throws<JsonParseException>(() => JsonValue.Parse(new string('[', 300) + new string(']', 300)), "refuses nesting past MaxDepth");

            // Numbers: ECMAScript's Number::toString (vectors from node), and exact reading.
            string[,] numbers =
            {
                { "0.30000000000000004", "0.30000000000000004" }, { "5e-324", "5e-324" }, { "1e+21", "1e+21" },
                { "1e21", "1e+21" }, { "100000000000000000000", "100000000000000000000" }, { "1.5e-7", "1.5e-7" },
                { "0.000001", "0.000001" }, { "-0", "0" }, { "2.2250738585072011e-308", "2.225073858507201e-308" },
                { "1.7976931348623157e308", "1.7976931348623157e+308" }, { "9007199254740993", "9007199254740992" },
                { "123.4567", "123.4567" }, { "512.37", "512.37" }, { "4.9406564584124654e-324", "5e-324" },
                { "2.4703282292062328e-324", "5e-324" }, { "1.00000000000000011102230246251565404236316680908203125", "1" },
                { "0.1", "0.1" }, { "-123456789.125", "-123456789.125" }, { "1E2", "100" }, { "0.9668498039245605", "0.9668498039245605" },
                { "0.3782497048377991", "0.3782497048377991" }, { "1.18833836583e-312", "1.18833836583e-312" },
            };
            for (int i = 0; i < numbers.GetLength(0); i++)
                t.Equal(numbers[i, 1], JsonValue.Parse(numbers[i, 0]).ToString(), "number " + numbers[i, 0]);
            t.Equal(0x3FD3333333333334L, BitConverter.DoubleToInt64Bits(DoubleConversion.Parse("0.30000000000000004")), "0.1 + 0.2 read bit for bit");
            t.Equal(0x000FFFFFFFFFFFFFL, BitConverter.DoubleToInt64Bits(DoubleConversion.Parse("2.2250738585072011e-308")), "largest subnormal");
            t.Equal(0x0000000000000001L, BitConverter.DoubleToInt64Bits(DoubleConversion.Parse("2.4703282292062328e-324")), "just above half the smallest subnormal rounds up");
            t.Equal(0L, BitConverter.DoubleToInt64Bits(DoubleConversion.Parse("2.4703282292062327e-324")), "just below it rounds to zero");
            t.True(double.IsPositiveInfinity(DoubleConversion.Parse("1.7976931348623159e308")), "past the largest double is infinity");
            t.Equal("null", JsonWriter.FormatNumber(double.NaN), "NaN writes as null, as JSON.stringify does");

            // Round trip of pseudo-random doubles (the generator is seeded: the same values every run).
            var rng = new Random(20240806);
            var buf = new byte[8];
            int bad = 0;
            for (int i = 0; i < 20000; i++)
            {
                rng.NextBytes(buf);
                double d = BitConverter.ToDouble(buf, 0);
                if (double.IsNaN(d) || double.IsInfinity(d)) continue;
                double back = JsonValue.Parse(JsonWriter.FormatNumber(d)).AsDouble;
                if (BitConverter.DoubleToInt64Bits(back) != BitConverter.DoubleToInt64Bits(d) && d != 0) bad++;
            }
            t.Equal(0, bad, "random doubles read back bit for bit");

            // RFC 8785 canonical text and the view digest, against values computed with node (server/core viewDigest: the set digest).
            var welcome = JsonValue.Parse("{\"entities\":{\"a1\":{\"id\":\"a1\",\"x\":500,\"y\":500.5,\"hp\":100},\"e2\":{\"id\":\"e2\",\"x\":510.25,\"y\":490,\"hp\":80}}}");
            t.Equal("{\"entities\":{\"a1\":{\"hp\":100,\"id\":\"a1\",\"x\":500,\"y\":500.5},\"e2\":{\"hp\":80,\"id\":\"e2\",\"x\":510.25,\"y\":490}}}", JsonWriter.WriteCanonical(welcome), "canonical text of the Welcome fixture's view");
            t.Equal("433c9a1fba85ac5d7e350e7b75bd906683946abaf6c82bde8ac4bb6dd4b1672a", AgentView.Hex(AgentView.Digest(welcome)), "digest of the Welcome fixture's view");
            var tricky = JsonValue.Parse("{\"entities\":{\"ｚ\":{\"x\":1e+21,\"y\":0.1,\"z\":-1.5e-7,\"w\":123456789.125,\"big\":9007199254740991},\"😀\":{\"s\":\"tab\\t\\\"q\\\"\\u0001é\u2028\"},\"a\":{\"arr\":[true,false,null,{\"b\":1,\"a\":2}],\"n\":5e-324,\"m\":1.7976931348623157e+308}}}");
            t.Equal("{\"entities\":{\"a\":{\"arr\":[true,false,null,{\"a\":2,\"b\":1}],\"m\":1.7976931348623157e+308,\"n\":5e-324},\"😀\":{\"s\":\"tab\\t\\\"q\\\"\\u0001é\u2028\"},\"ｚ\":{\"big\":9007199254740991,\"w\":123456789.125,\"x\":1e+21,\"y\":0.1,\"z\":-1.5e-7}}}",
                JsonWriter.WriteCanonical(tricky), "canonical text sorts keys by UTF-16 code units (an emoji before U+FF5A)");
            t.Equal("0a5d99d41beffc2d6f323cf47bf972604c2a2ff3ac761e1a9229ab52eb332b13", AgentView.Hex(AgentView.Digest(tricky)), "digest of a view with tricky keys, strings and numbers");

            // The DOM: equality ignores key order, clones share nothing mutable.
            var o1 = JsonValue.Parse("{\"a\":1,\"b\":[1,{\"c\":null}]}");
            var o2 = JsonValue.Parse("{\"b\":[1,{\"c\":null}],\"a\":1.0}");
            t.True(o1.DeepEquals(o2), "objects equal whatever the key order");
            var clone = o1.DeepClone();
            ((JsonArray)clone["b"]).Add(3);
            t.Equal(2, ((JsonArray)o1["b"]).Count, "a clone's change does not reach the original");
            t.Equal(9007199254740991L, JsonValue.Parse("9007199254740991").AsLong, "AsLong of 2^53 - 1");
            t.Throws<InvalidOperationException>(() => { var x = JsonValue.Parse("1.5").AsLong; }, "AsLong of a fraction");
        }
    }
}
