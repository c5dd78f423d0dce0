using System;
using System.Collections.Generic;
using System.IO;
using Worldline.Client.Json;

namespace Worldline.Client.Tests
{
    /// <summary>
    /// The checked-in protobuf frames (test/fixtures/frames/v1/proto) read with the dependency-free wire reader and
    /// the compact op decoder, compared with their source messages (test/fixtures/frames/v1/source). Each frame was
    /// encoded on a new connection, so each gets a new path dictionary.
    /// </summary>
    static class GoldenFrameTests
    {
        public static void Run(T t)
        {
            string[] deltas = { "ObservationDelta", "ObservationDelta-values", "ObservationDelta-snapshot" };
            foreach (var name in deltas) Delta(t, name);
            Welcome(t, "Welcome");
            Welcome(t, "Welcome-resume");
            SnapshotFrame(t);
            PongFrame(t);
        }

        static JsonObject Source(T t, string name)
        {
            return (JsonObject)JsonValue.Parse(File.ReadAllText(t.Fixture("source/" + name + ".json")))["message"];
        }

        /// <summary>The ServerFrame member with the given oneof number, as a reader over its message.</summary>
        static ProtoWireReader Member(T t, string name, int oneof)
        {
            byte[] frame = File.ReadAllBytes(t.Fixture("proto/" + name + ".bin"));
            var r = new ProtoWireReader(frame);
            int field;
            WireType type;
            while (r.Next(out field, out type))
            {
                if (field == oneof && type == WireType.LengthDelimited) return r.ReadMessage();
                r.Skip(type);
            }
            throw new InvalidDataException(name + ".bin has no ServerFrame member " + oneof);
        }

        static void Delta(T t, string name)
        {
            JsonObject src = Source(t, name);
            var r = Member(t, name, 2);
            ulong viewSeq = 0, fromSeq = 0, globalSeq = 0, simTime = 0;
            byte[] digest = new byte[0], ops = new byte[0];
            int field;
            WireType type;
            while (r.Next(out field, out type))
            {
                switch (field)
                {
                    case 1: viewSeq = r.ReadVarint(); break;
                    case 2: fromSeq = r.ReadVarint(); break;
                    case 3: digest = r.ReadBytes(); break;
                    case 4: ops = r.ReadBytes(); break;
                    case 5: globalSeq = r.ReadVarint(); break;
                    case 6: simTime = r.ReadVarint(); break;
                    default: r.Skip(type); break;
                }
            }
            t.Equal((ulong)src["view_seq"].AsLong, viewSeq, name + " view_seq");
            t.Equal((ulong)src["from_seq"].AsLong, fromSeq, name + " from_seq");
            t.Equal((ulong)src["global_seq"].AsLong, globalSeq, name + " global_seq");
            t.Equal((ulong)src["sim_time"].AsLong, simTime, name + " sim_time");
            t.Equal(src["context_digest"].AsString, AgentView.Hex(digest), name + " context_digest");

            List<PatchOperation> decoded;
            try
            {
                decoded = OpStream.Decode(ops, new PathDictionary());
            }
            catch (ProtocolException e)
            {
                t.Fail(name + ": " + e.Message);
                return;
            }
            JsonArray expected = src["ops"].AsArray;
            t.Equal(expected.Count, decoded.Count, name + " op count");
            for (int i = 0; i < Math.Min(expected.Count, decoded.Count); i++)
            {
                PatchOperation want = PatchOperation.FromJson(expected[i]);
                PatchOperation got = decoded[i];
                string where = name + " op " + i + " (" + want + ")";
                t.Equal(want.Op, got.Op, where + ": op");
                t.Equal(want.Path, got.Path, where + ": path");
                t.Equal(want.From, got.From, where + ": from");
                t.True(want.Value == null ? got.Value == null : got.Value != null && SameBits(want.Value, got.Value), where + ": value, got " + got.Value);
            }

            // The decoded ops apply to the view they were made for: rebuild it from the Welcome fixture for the
            // plain delta (42 -> 43), and check the snapshot-style delta replaces the whole document.
            if (name == "ObservationDelta")
            {
                var view = new AgentView();
                view.ApplySnapshot(42, Source(t, "Welcome")["snapshot"]["view"], null);
                t.Equal(DeltaOutcome.Applied, view.ApplyDelta((long)fromSeq, (long)viewSeq, decoded, digest), name + " applies to the Welcome snapshot");
                t.Equal("{\"entities\":{\"a1\":{\"id\":\"a1\",\"x\":501.25,\"y\":498,\"hp\":100},\"e3\":{\"id\":\"e3\",\"x\":640.1,\"y\":512.37,\"hp\":100}}}", JsonWriter.Write(view.Document), name + " result");
            }
        }

        // Structural equality with numbers compared bit for bit (so -0 and the last ulp count).
        static bool SameBits(JsonValue a, JsonValue b)
        {
            if (a.Kind != b.Kind) return false;
            switch (a.Kind)
            {
                case JsonKind.Number: return BitConverter.DoubleToInt64Bits(a.AsDouble) == BitConverter.DoubleToInt64Bits(b.AsDouble);
                case JsonKind.Array:
                    {
                        var x = a.AsArray;
                        var y = b.AsArray;
                        if (x.Count != y.Count) return false;
                        for (int i = 0; i < x.Count; i++) if (!SameBits(x[i], y[i])) return false;
                        return true;
                    }
                case JsonKind.Object:
                    {
                        var x = a.AsObject;
                        var y = b.AsObject;
                        if (x.Count != y.Count) return false;
                        foreach (var kv in x)
                        {
                            JsonValue other;
                            if (!y.TryGetValue(kv.Key, out other) || !SameBits(kv.Value, other)) return false;
                        }
                        return true;
                    }
                default: return a.DeepEquals(b);
            }
        }

        static void Welcome(T t, string name)
        {
            JsonObject src = Source(t, name);
            var r = Member(t, name, 1);
            var strings = new Dictionary<int, string>();
            double serverTime = 0;
            ulong viewSeq = 0;
            JsonValue view = null;
            ulong snapSeq = 0;
            int field;
            WireType type;
            while (r.Next(out field, out type))
            {
                if (field >= 1 && field <= 4) strings[field] = r.ReadString();
                else if (field == 5) serverTime = r.ReadDouble();
                else if (field == 6) viewSeq = r.ReadVarint();
                else if (field == 7)
                {
                    var s = r.ReadMessage();
                    int f2;
                    WireType t2;
                    while (s.Next(out f2, out t2))
                    {
                        if (f2 == 1) snapSeq = s.ReadVarint();
                        else if (f2 == 2) view = JsonParser.ParseUtf8(s.ReadBytes());
                        else s.Skip(t2);
                    }
                }
                else r.Skip(type);
            }
            t.Equal(src["session"].AsString, strings.ContainsKey(1) ? strings[1] : "", name + " session");
            t.Equal(src["agent"].AsString, strings.ContainsKey(3) ? strings[3] : "", name + " agent");
            t.Equal(src["server_time"].AsDouble, serverTime, name + " server_time");
            t.Equal((ulong)src["view_seq"].AsLong, viewSeq, name + " view_seq");
            if (src["snapshot"] != null)
            {
                t.Equal((ulong)src["snapshot"]["view_seq"].AsLong, snapSeq, name + " snapshot view_seq");
                t.True(view != null && view.DeepEquals(src["snapshot"]["view"]), name + " snapshot view");
            }
            else t.True(view == null, name + " has no snapshot (resume with deltas)");
        }

        static void SnapshotFrame(T t)
        {
            JsonObject src = Source(t, "Snapshot");
            var r = Member(t, "Snapshot", 3);
            JsonValue view = null;
            int field;
            WireType type;
            while (r.Next(out field, out type))
            {
                if (field == 2) view = JsonParser.ParseUtf8(r.ReadBytes());
                else r.Skip(type);
            }
            t.True(view != null && view.DeepEquals(src["view"]), "Snapshot view_json");
        }

        static void PongFrame(T t)
        {
            JsonObject src = Source(t, "Pong");
            var r = Member(t, "Pong", 6);
            double clientTime = 0, serverTime = 0;
            ulong simTime = 0;
            int field;
            WireType type;
            while (r.Next(out field, out type))
            {
                if (field == 1) clientTime = r.ReadDouble();
                else if (field == 2) serverTime = r.ReadDouble();
                else if (field == 3) simTime = r.ReadVarint();
                else r.Skip(type);
            }
            t.Equal(src["client_time"].AsDouble, clientTime, "Pong client_time");
            t.Equal(src["server_time"].AsDouble, serverTime, "Pong server_time");
            t.Equal((ulong)src["sim_time"].AsLong, simTime, "Pong sim_time");
            // Fed to clock sync as if the Pong came back 4 ms after the Ping left.
            var sync = new ClockSync();
            sync.AddSample(clientTime, serverTime, clientTime + 4, simTime);
            t.Equal(serverTime - (clientTime + 2), sync.OffsetMs, "offset from the golden Pong");
        }
    }
}
