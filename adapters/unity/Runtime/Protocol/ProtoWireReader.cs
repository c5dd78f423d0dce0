using System;
using System.Text;

namespace Worldline.Client
{
    /// <summary>Protobuf wire types (the low 3 bits of a field key).</summary>
    public enum WireType { Varint = 0, Fixed64 = 1, LengthDelimited = 2, StartGroup = 3, EndGroup = 4, Fixed32 = 5 }

    /// <summary>
    /// A minimal protobuf wire-format reader with no dependency on Google.Protobuf: enough to walk a ServerFrame
    /// envelope field by field. The client itself uses the generated classes (Runtime/Generated); this exists so the
    /// parts compiled without Google.Protobuf (the console tests, diagnostics) can read golden frames and captures.
    /// </summary>
    public struct ProtoWireReader
    {
        readonly byte[] data;
        int pos;
        readonly int end;

        public ProtoWireReader(byte[] data) : this(data, 0, data.Length) { }

        public ProtoWireReader(byte[] data, int offset, int count)
        {
            if (data == null) throw new ArgumentNullException("data");
            if (offset < 0 || count < 0 || offset + count > data.Length) throw new ArgumentOutOfRangeException("count");
            this.data = data;
            pos = offset;
            end = offset + count;
        }

        public bool AtEnd { get { return pos >= end; } }

        /// <summary>Reads the next field key; false at the end of the message.</summary>
        public bool Next(out int field, out WireType type)
        {
            field = 0;
            type = WireType.Varint;
            if (pos >= end) return false;
            ulong key = ReadVarint();
            field = (int)(key >> 3);
            type = (WireType)(key & 7);
            if (field <= 0 || key >> 3 > 536870911) throw new ProtocolException("bad field number " + (key >> 3));
            return true;
        }

        public ulong ReadVarint()
        {
            ulong result = 0;
            for (int shift = 0; shift < 70; shift += 7)
            {
                if (pos >= end) throw new ProtocolException("truncated varint");
                byte b = data[pos++];
                result |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return result;
            }
            throw new ProtocolException("varint longer than 10 bytes");
        }

        /// <summary>A zigzag-encoded sint32/sint64.</summary>
        public long ReadSigned()
        {
            ulong v = ReadVarint();
            return (long)(v >> 1) ^ -(long)(v & 1);
        }

        public double ReadDouble()
        {
            if (end - pos < 8) throw new ProtocolException("truncated double");
            long lo = (uint)(data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16 | data[pos + 3] << 24);
            long hi = (uint)(data[pos + 4] | data[pos + 5] << 8 | data[pos + 6] << 16 | data[pos + 7] << 24);
            pos += 8;
            return BitConverter.Int64BitsToDouble(lo | hi << 32);
        }

        /// <summary>A length-delimited field's bytes (a copy).</summary>
        public byte[] ReadBytes()
        {
            int offset, count;
            ReadSpan(out offset, out count);
            var copy = new byte[count];
            Buffer.BlockCopy(data, offset, copy, 0, count);
            return copy;
        }

        public string ReadString()
        {
            int offset, count;
            ReadSpan(out offset, out count);
            return Encoding.UTF8.GetString(data, offset, count);
        }

        /// <summary>A reader over an embedded message field.</summary>
        public ProtoWireReader ReadMessage()
        {
            int offset, count;
            ReadSpan(out offset, out count);
            return new ProtoWireReader(data, offset, count);
        }

        void ReadSpan(out int offset, out int count)
        {
            ulong n = ReadVarint();
            if (n > (ulong)(end - pos)) throw new ProtocolException("truncated length-delimited field");
            offset = pos;
            count = (int)n;
            pos += count;
        }

        /// <summary>Skips a field's value (unknown fields are ignored, as the protocol requires).</summary>
        public void Skip(WireType type)
        {
            switch (type)
            {
                case WireType.Varint: ReadVarint(); break;
                case WireType.Fixed64: Advance(8); break;
                case WireType.Fixed32: Advance(4); break;
                case WireType.LengthDelimited: { int o, c; ReadSpan(out o, out c); break; }
                default: throw new ProtocolException("unsupported wire type " + (int)type);
            }
        }

        void Advance(int n)
        {
            if (end - pos < n) throw new ProtocolException("truncated fixed-width field");
            pos += n;
        }
    }
}
