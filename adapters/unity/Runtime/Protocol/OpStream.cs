using System;
using System.Collections.Generic;
using System.Text;
using Worldline.Client.Json;

namespace Worldline.Client
{
    /// <summary>A frame the client cannot read: the connection's state can no longer be trusted, so reconnect.</summary>
    public sealed class ProtocolException : Exception
    {
        public ProtocolException(string message) : base(message) { }
        public ProtocolException(string message, Exception inner) : base(message, inner) { }
    }

    /// <summary>
    /// The path definitions a connection has received (docs/protocol.md, "Compact ops"). They belong to one
    /// connection: make a new dictionary (or <see cref="Clear"/> it) on every reconnect, since the server sends a
    /// resumed connection its definitions again.
    /// </summary>
    public sealed class PathDictionary
    {
        readonly List<string> paths = new List<string>();

        public int Count { get { return paths.Count; } }

        public void Define(long id, string path)
        {
            if (id < 0 || id > int.MaxValue) throw new ProtocolException("path id " + id + " out of range");
            int i = (int)id;
            while (paths.Count <= i) paths.Add(null);
            string had = paths[i];
            if (had != null && had != path) throw new ProtocolException("path id " + id + " redefined from \"" + had + "\" to \"" + path + "\"");
            paths[i] = path;
        }

        public string Get(long id)
        {
            string p = id >= 0 && id < paths.Count ? paths[(int)id] : null;
            if (p == null) throw new ProtocolException("path id " + id + " used before its definition");
            return p;
        }

        public void Clear() { paths.Clear(); }
    }

    /// <summary>
    /// Decodes ObservationDelta.ops of the binary subprotocols into RFC 6902 operations: the same ops, paths and
    /// values (every double bit for bit) that the JSON subprotocol sends. A port of
    /// test/protocol/independent/opstream.py, with the server decoder's checks (server/protocol/opstream.ts).
    /// </summary>
    public static class OpStream
    {
        /// <summary>Values nest at most this deep, as on the server.</summary>
        public const int MaxDepth = 64;

        static readonly string[] Names = { null, "add", "remove", "replace", "move", "copy", "test" };
        static readonly double[] Pow10 = { 1, 10, 100, 1000, 10000 };
        static readonly UTF8Encoding StrictUtf8 = new UTF8Encoding(false, true);

        /// <summary>Decodes a whole op stream, learning its path definitions into <paramref name="paths"/>.</summary>
        public static List<PatchOperation> Decode(byte[] data, PathDictionary paths)
        {
            return Decode(data, 0, data.Length, paths);
        }

        public static List<PatchOperation> Decode(byte[] data, int offset, int count, PathDictionary paths)
        {
            if (data == null) throw new ArgumentNullException("data");
            if (offset < 0 || count < 0 || offset + count > data.Length) throw new ArgumentOutOfRangeException("count");
            var r = new Reader(data, offset, offset + count);
            var ops = new List<PatchOperation>();
            long prev = -1;
            while (r.Pos < r.End)
            {
                int head = r.U8();
                int code = head & 0x07;
                int nibble = head >> 4;
                if (code == 0)
                {
                    if (head != 0) throw new ProtocolException("bad DEFINE head 0x" + head.ToString("x2"));
                    long defId = r.Varint();
                    paths.Define(defId, r.String());
                    continue;
                }
                if (code == 7) throw new ProtocolException("unknown op code 7");
                long id;
                if ((head & 0x08) != 0)
                {
                    if (prev < 0) throw new ProtocolException("relative path id with no previous op");
                    id = prev + 1;
                }
                else id = r.Varint();
                prev = id;
                string path = paths.Get(id);
                var op = (PatchOp)code;
                bool wantsValue = op == PatchOp.Add || op == PatchOp.Replace || op == PatchOp.Test;
                if (wantsValue != (nibble != 0)) throw new ProtocolException(Names[code] + (wantsValue ? " needs" : " cannot have") + " a value");
                if (op == PatchOp.Remove) ops.Add(new PatchOperation(op, path, null, null));
                else if (op == PatchOp.Move || op == PatchOp.Copy) ops.Add(new PatchOperation(op, path, paths.Get(r.Varint()), null));
                else ops.Add(new PatchOperation(op, path, null, ReadValue(ref r, nibble - 1, 0)));
            }
            return ops;
        }

        static JsonValue ReadValue(ref Reader r, int tag, int depth)
        {
            switch (tag)
            {
                case 0: return JsonNull.Instance;
                case 1: return JsonBool.False;
                case 2: return JsonBool.True;
                case 3: return new JsonNumber(r.Varint());
                case 4: return new JsonNumber(-(double)r.Varint() - 1);
                case 5: return new JsonNumber(r.Float32());
                case 6: return new JsonNumber(r.Float64());
                case 7:
                case 8:
                case 9:
                case 10:
                    {
                        long z = r.Varint();
                        // Both operands are exact integers, so one IEEE division gives the correctly rounded decimal.
                        double m = (z & 1) == 0 ? z / 2 : -((z + 1) / 2);
                        return new JsonNumber(m / Pow10[tag - 6]);
                    }
                case 11: return new JsonString(r.String());
                case 12:
                    {
                        if (depth >= MaxDepth) throw new ProtocolException("value nested deeper than " + MaxDepth);
                        long n = r.Varint();
                        if (n > r.End - r.Pos) throw new ProtocolException("array of " + n + " items in " + (r.End - r.Pos) + " bytes");
                        var a = new JsonArray();
                        for (long i = 0; i < n; i++) a.Add(ReadValue(ref r, r.U8(), depth + 1));
                        return a;
                    }
                case 13:
                    {
                        if (depth >= MaxDepth) throw new ProtocolException("value nested deeper than " + MaxDepth);
                        long n = r.Varint();
                        if (n * 2 > r.End - r.Pos) throw new ProtocolException("object of " + n + " keys in " + (r.End - r.Pos) + " bytes");
                        var o = new JsonObject();
                        for (long i = 0; i < n; i++)
                        {
                            string k = r.String();
                            o.Set(k, ReadValue(ref r, r.U8(), depth + 1));
                        }
                        return o;
                    }
                default: throw new ProtocolException("unknown value tag " + tag);
            }
        }

        struct Reader
        {
            readonly byte[] data;
            public int Pos;
            public readonly int End;

            public Reader(byte[] data, int start, int end) { this.data = data; Pos = start; End = end; }

            void Need(int n)
            {
                if (n > End - Pos) throw new ProtocolException("truncated: needed " + n + " more byte(s) at offset " + Pos);
            }

            public int U8() { Need(1); return data[Pos++]; }

            /// <summary>Unsigned LEB128, at most 8 bytes and below 2^53, as the protocol allows.</summary>
            public long Varint()
            {
                long result = 0;
                for (int shift = 0; shift < 56; shift += 7)
                {
                    int b = U8();
                    result |= (long)(b & 0x7F) << shift;
                    if (b < 0x80)
                    {
                        if (result > 9007199254740991L) throw new ProtocolException("varint above 2^53 - 1 at offset " + Pos);
                        return result;
                    }
                }
                throw new ProtocolException("varint longer than 8 bytes at offset " + Pos);
            }

            public float Float32()
            {
                Need(4);
                // Little-endian on the wire whatever the host order.
                int bits = data[Pos] | data[Pos + 1] << 8 | data[Pos + 2] << 16 | data[Pos + 3] << 24;
                Pos += 4;
                return BitConverter.ToSingle(BitConverter.GetBytes(bits), 0);
            }

            public double Float64()
            {
                Need(8);
                long lo = (uint)(data[Pos] | data[Pos + 1] << 8 | data[Pos + 2] << 16 | data[Pos + 3] << 24);
                long hi = (uint)(data[Pos + 4] | data[Pos + 5] << 8 | data[Pos + 6] << 16 | data[Pos + 7] << 24);
                Pos += 8;
                return BitConverter.Int64BitsToDouble(lo | hi << 32);
            }

            public string String()
            {
                long n = Varint();
                if (n > End - Pos) throw new ProtocolException("truncated: string of " + n + " bytes at offset " + Pos);
                try
                {
                    string s = StrictUtf8.GetString(data, Pos, (int)n);
                    Pos += (int)n;
                    return s;
                }
                catch (DecoderFallbackException e)
                {
                    throw new ProtocolException("invalid UTF-8 in a string at offset " + Pos, e);
                }
            }
        }
    }
}
