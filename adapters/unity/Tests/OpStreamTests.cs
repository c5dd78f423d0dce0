using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using Worldline.Client.Json;

namespace Worldline.Client.Tests
{
    /// <summary>The compact op decoder on hand-built streams: every value tag, relative path ids, and malformed input.</summary>
    static class OpStreamTests
    {
        /// <summary>Builds op streams byte by byte, following docs/protocol.md.</summary>
        sealed class W
        {
            readonly MemoryStream s = new MemoryStream();
            public W U8(int b) { s.WriteByte((byte)b); return this; }
            public W Varint(ulong v) { do { byte b = (byte)(v & 0x7F); v >>= 7; if (v != 0) b |= 0x80; s.WriteByte(b); } while (v != 0); return this; }
            public W Str(string x) { var b = Encoding.UTF8.GetBytes(x); Varint((ulong)b.Length); s.Write(b, 0, b.Length); return this; }
            public W Define(int id, string path) { return U8(0).Varint((ulong)id).Str(path); }
            public W F64(double d) { var b = BitConverter.GetBytes(d); if (!BitConverter.IsLittleEndian) Array.Reverse(b); s.Write(b, 0, 8); return this; }
            public W F32(float f) { var b = BitConverter.GetBytes(f); if (!BitConverter.IsLittleEndian) Array.Reverse(b); s.Write(b, 0, 4); return this; }
            public byte[] Bytes() { return s.ToArray(); }
        }

        static int Head(PatchOp op, int valueTag, bool nextPath) { return (int)op | (nextPath ? 0x08 : 0) | ((valueTag + 1) << 4); }
        static int HeadNoValue(PatchOp op) { return (int)op; }
        static ulong Zigzag(long m) { return m >= 0 ? (ulong)(2 * m) : (ulong)(-2 * m - 1); }

        public static void Run(T t)
        {
            var w = new W()
                .Define(0, "/e/a").Define(1, "/e/b").Define(2, "/e/c").Define(3, "/e/d").Define(4, "/e/f")
                .U8(Head(PatchOp.Add, 0, false)).Varint(0)                               // add /e/a null
                .U8(Head(PatchOp.Replace, 1, true))                                       // replace /e/b false (next path)
                .U8(Head(PatchOp.Replace, 2, true))                                       // replace /e/c true
                .U8(Head(PatchOp.Replace, 3, true)).Varint(300)                           // /e/d 300
                .U8(Head(PatchOp.Replace, 4, true)).Varint(6)                             // /e/f -7
                .U8(Head(PatchOp.Replace, 5, false)).Varint(0).F32(0.1f)                  // /e/a float32 0.1
                .U8(Head(PatchOp.Replace, 6, false)).Varint(1).F64(-0.0)                  // /e/b -0
                .U8(Head(PatchOp.Replace, 8, false)).Varint(2).Varint(Zigzag(51237))      // /e/c 512.37 (2 digits)
                .U8(Head(PatchOp.Replace, 7, false)).Varint(3).Varint(Zigzag(-15))        // /e/d -1.5 (1 digit)
                .U8(Head(PatchOp.Replace, 10, false)).Varint(4).Varint(Zigzag(-1234567))  // /e/f -123.4567 (4 digits)
                .U8(Head(PatchOp.Add, 11, false)).Varint(0).Str("Zoë 🚀")
                .U8(Head(PatchOp.Add, 12, false)).Varint(1).Varint(3).U8(2).U8(12).Varint(0).U8(13).Varint(1).Str("k").U8(3).Varint(1)
                .U8(Head(PatchOp.Test, 13, false)).Varint(2).Varint(0)
                .U8(HeadNoValue(PatchOp.Move)).Varint(4).Varint(3)                          // move from /e/d to /e/f
                .U8(HeadNoValue(PatchOp.Copy)).Varint(1).Varint(0)                          // copy from /e/a to /e/b
                .U8(HeadNoValue(PatchOp.Remove) | 0x08)                                     // remove /e/c (previous + 1)
                .U8(Head(PatchOp.Replace, 6, false)).Varint(0).F64(double.NaN);
            var dict = new PathDictionary();
            List<PatchOperation> ops = OpStream.Decode(w.Bytes(), dict);
            string[] expected =
            {
                "{\"op\":\"add\",\"path\":\"/e/a\",\"value\":null}",
                "{\"op\":\"replace\",\"path\":\"/e/b\",\"value\":false}",
                "{\"op\":\"replace\",\"path\":\"/e/c\",\"value\":true}",
                "{\"op\":\"replace\",\"path\":\"/e/d\",\"value\":300}",
                "{\"op\":\"replace\",\"path\":\"/e/f\",\"value\":-7}",
                "{\"op\":\"replace\",\"path\":\"/e/a\",\"value\":0.10000000149011612}",
                "{\"op\":\"replace\",\"path\":\"/e/b\",\"value\":0}",
                "{\"op\":\"replace\",\"path\":\"/e/c\",\"value\":512.37}",
                "{\"op\":\"replace\",\"path\":\"/e/d\",\"value\":-1.5}",
                "{\"op\":\"replace\",\"path\":\"/e/f\",\"value\":-123.4567}",
                "{\"op\":\"add\",\"path\":\"/e/a\",\"value\":\"Zoë 🚀\"}",
                "{\"op\":\"add\",\"path\":\"/e/b\",\"value\":[true,[],{\"k\":1}]}",
                "{\"op\":\"test\",\"path\":\"/e/c\",\"value\":{}}",
                "{\"op\":\"move\",\"from\":\"/e/d\",\"path\":\"/e/f\"}",
                "{\"op\":\"copy\",\"from\":\"/e/a\",\"path\":\"/e/b\"}",
                "{\"op\":\"remove\",\"path\":\"/e/c\"}",
                "{\"op\":\"replace\",\"path\":\"/e/a\",\"value\":null}",
            };
            t.Equal(expected.Length, ops.Count, "every record decodes to one op");
            for (int i = 0; i < Math.Min(expected.Length, ops.Count); i++) t.Equal(expected[i], ops[i].ToString(), "op " + i);
            if (ops.Count == expected.Length)
            {
                t.Equal(BitConverter.DoubleToInt64Bits(-0.0), BitConverter.DoubleToInt64Bits(ops[6].Value.AsDouble), "float64 -0 keeps its sign");
                t.Equal(BitConverter.DoubleToInt64Bits(512.37), BitConverter.DoubleToInt64Bits(ops[7].Value.AsDouble), "decimal 51237/100 is the double 512.37");
                t.Equal(BitConverter.DoubleToInt64Bits(-123.4567), BitConverter.DoubleToInt64Bits(ops[9].Value.AsDouble), "decimal -1234567/10^4 is the double -123.4567");
                t.True(double.IsNaN(ops[16].Value.AsDouble), "a float64 NaN decodes (JSON would write it as null)");
            }
            t.Equal(5, dict.Count, "the definitions were learned");

            // Definitions belong to the connection: a later frame uses numbers alone.
            var later = OpStream.Decode(new W().U8(Head(PatchOp.Replace, 3, false)).Varint(3).Varint(1).Bytes(), dict);
            t.Equal("{\"op\":\"replace\",\"path\":\"/e/d\",\"value\":1}", later.Count == 1 ? later[0].ToString() : "", "a later frame reuses the definitions");
            t.Throws<ProtocolException>(() => OpStream.Decode(new W().U8(Head(PatchOp.Replace, 3, false)).Varint(3).Varint(1).Bytes(), new PathDictionary()), "a new connection has no definitions");
            OpStream.Decode(new W().Define(0, "/e/a").Bytes(), dict);
            t.Throws<ProtocolException>(() => OpStream.Decode(new W().Define(0, "/other").Bytes(), dict), "redefining a number differently");

            // Malformed streams are ProtocolExceptions, never another failure.
            var malformed = new Dictionary<string, byte[]>
            {
                { "op code 7", new W().Define(0, "/a").U8(0x07).Varint(0).Bytes() },
                { "DEFINE head with other bits", new W().U8(0x10).Varint(0).Str("/a").Bytes() },
                { "relative path on the first op", new W().Define(0, "/a").U8(HeadNoValue(PatchOp.Remove) | 0x08).Bytes() },
                { "add without a value", new W().Define(0, "/a").U8(HeadNoValue(PatchOp.Add)).Varint(0).Bytes() },
                { "remove with a value", new W().Define(0, "/a").U8(Head(PatchOp.Remove, 0, false)).Varint(0).Bytes() },
                { "unknown value tag 14", new W().Define(0, "/a").U8(Head(PatchOp.Add, 14, false)).Varint(0).Bytes() },
                { "varint longer than 8 bytes", new W().U8(0).U8(0x80).U8(0x80).U8(0x80).U8(0x80).U8(0x80).U8(0x80).U8(0x80).U8(0x80).U8(0x01).Bytes() },
                { "varint above 2^53 - 1", new W().U8(0).Varint(1UL << 53).Str("/a").Bytes() },
                { "array count larger than the bytes left", new W().Define(0, "/a").U8(Head(PatchOp.Add, 12, false)).Varint(0).Varint(1000).Bytes() },
                { "invalid UTF-8", new W().U8(0).Varint(0).Varint(2).U8(0xC3).U8(0x28).Bytes() },
                { "nesting deeper than 64", Nested(65) },
            };
            foreach (var m in malformed) t.Throws<ProtocolException>(() => OpStream.Decode(m.Value, new PathDictionary()), m.Key);
            t.Equal(1, OpStream.Decode(Nested(64), new PathDictionary()).Count, "nesting of exactly 64 levels decodes");

            // Every prefix of a valid stream decodes or fails with a ProtocolException, never anything else.
            byte[] full = w.Bytes();
            int unexpected = 0;
            for (int n = 0; n < full.Length; n++)
            {
                try { OpStream.Decode(full, 0, n, new PathDictionary()); }
                catch (ProtocolException) { }
                catch (Exception) { unexpected++; }
            }
            t.Equal(0, unexpected, "truncations fail cleanly");
            // Random single-byte corruptions likewise (seeded).
            var rng = new Random(6);
            unexpected = 0;
            for (int i = 0; i < 5000; i++)
            {
                var copy = (byte[])full.Clone();
                copy[rng.Next(copy.Length)] = (byte)rng.Next(256);
                try { OpStream.Decode(copy, new PathDictionary()); }
                catch (ProtocolException) { }
                catch (Exception e) { if (unexpected++ == 0) t.Fail("corruption threw " + e); }
            }
            t.Equal(0, unexpected, "corruptions fail cleanly");
        }

        // add /a with `depth` nested arrays: [[[...]]].
        static byte[] Nested(int depth)
        {
            var w = new W().Define(0, "/a").U8(Head(PatchOp.Add, 12, false)).Varint(0);
            for (int i = 1; i < depth; i++) w.Varint(1).U8(12);
            return w.Varint(0).Bytes();
        }
    }
}
