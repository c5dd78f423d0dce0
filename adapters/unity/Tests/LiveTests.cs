using System;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;
using Worldline.Client.Json;

namespace Worldline.Client.Tests
{
    /// <summary>
    /// Optional: against a running server's default world, with no Google.Protobuf (frames are hand-encoded and read
    /// with ProtoWireReader). Runs only when WORLDLINE_LIVE_URL (e.g. ws://127.0.0.1:8080) and WORLDLINE_LIVE_TOKEN
    /// (an agent token for "agent-1", as `worldline serve` prints) are set. Joins, spawns the agent near an NPC,
    /// applies the deltas with digest checks, resumes on a new connection with the token in the query string, and
    /// checks that a bad token is refused with 1008.
    /// </summary>
    static class LiveTests
    {
        public static void Run(T t)
        {
            string url = Environment.GetEnvironmentVariable("WORLDLINE_LIVE_URL");
            string token = Environment.GetEnvironmentVariable("WORLDLINE_LIVE_TOKEN");
            if (string.IsNullOrEmpty(url) || string.IsNullOrEmpty(token))
            {
                Console.WriteLine("  (skipped: set WORLDLINE_LIVE_URL and WORLDLINE_LIVE_TOKEN to run against a server)");
                return;
            }
            string world = Environment.GetEnvironmentVariable("WORLDLINE_LIVE_WORLD") ?? "default";

            var view = new AgentView { VerifyDigests = true };
            var clock = new ClockSync();
            var s1 = new Session(url, world, token, false, view, clock, -1, true);
            s1.Run(2500);
            t.True(s1.Welcomed, "live: Welcome after Hello");
            t.True(s1.SpawnAccepted, "live: Spawn accepted");
            t.True(s1.Deltas > 0, "live: deltas applied with their digests checked (" + s1.Deltas + ")");
            t.Equal(0, s1.Gaps, "live: no gaps");
            t.True(clock.SampleCount > 0 && Math.Abs(clock.RttMs) < 1000, "live: clock sync samples, RTT " + clock.RttMs.ToString("F1") + " ms");

            long held = view.ViewSeq;
            var s2 = new Session(url, world, token, true, view, clock, held, false);
            s2.Run(1500);
            t.Equal(held, s2.WelcomeViewSeq, "live: resume (token in the query string) starts from the view_seq held");
            t.Equal(0, s2.Snapshots, "live: resume without a snapshot");
            t.True(s2.Deltas > 0 && s2.Gaps == 0, "live: resumed deltas chain on");

            var s3 = new Session(url, world, "not-a-token", false, new AgentView(), clock, -1, false);
            s3.Run(1500);
            t.Equal(1008, s3.CloseCode, "live: a bad token is refused with a policy close");
            t.Equal("UNAUTHORIZED", s3.ErrorName, "live: and an UNAUTHORIZED error");

            // The engine role (WORLDLINE_LIVE_ENGINE_TOKEN: a token with role engine and no agent claim). Last: once an
            // engine has attached, the world advances only on engine ticks.
            string engineToken = Environment.GetEnvironmentVariable("WORLDLINE_LIVE_ENGINE_TOKEN");
            if (string.IsNullOrEmpty(engineToken))
            {
                Console.WriteLine("  (engine checks skipped: set WORLDLINE_LIVE_ENGINE_TOKEN)");
                return;
            }
            var e = new EngineSession(url, world, engineToken);
            e.Run(4000);
            t.True(e.Welcomed, "live engine: Welcome after an engine Hello without agent_id");
            t.Equal("", e.WelcomeAgent, "live engine: the Welcome names no agent");
            t.Equal(WelcomeAction.NoView, ReconnectPolicy.OnWelcome(e.WelcomeSnapshot, e.WelcomeViewSeq, e.WelcomeAgent, -1), "live engine: its Welcome is joined without a view (not taken for a bad resume)");
            t.Equal(3L, e.SimAfterTicks - e.SimBeforeTicks, "live engine: three TimeTicks advance the world by three ticks (Pong sim_time)");
            t.Equal("INVALID_INTENT", e.RepeatedFrameError, "live engine: a TimeTick repeating the previous frame_number is refused");
        }

        /// <summary>Joins as the engine, reads sim_time from a Pong, sends three TimeTicks, reads it again, then repeats a frame_number.</summary>
        sealed class EngineSession
        {
            readonly string url, world, token;
            readonly Stopwatch sw = Stopwatch.StartNew();
            ClientWebSocketTransport transport;
            public bool Welcomed, WelcomeSnapshot;
            public string WelcomeAgent, RepeatedFrameError = "";
            public long WelcomeViewSeq = -1, SimBeforeTicks = -1, SimAfterTicks = -1;
            int pongs;

            public EngineSession(string url, string world, string token) { this.url = url; this.world = world; this.token = token; }

            static byte[] Frame(int member, W body) { return new W().Msg(member, body).Bytes(); }
            void Ping() { transport.Send(Frame(6, new W().Fixed64(1, sw.Elapsed.TotalMilliseconds))); }
            void Tick(ulong n) { transport.Send(Frame(7, new W().Varint(1, n).Fixed64(2, 0.02).Varint(3, n))); }

            public void Run(int ms)
            {
                transport = new ClientWebSocketTransport();
                int closeCode = 0;
                transport.Opened += () => transport.Send(Frame(1, new W().Str(1, token).Str(2, "").Varint(3, 2).Str(4, "worldline-unity-tests").Str(5, "1.0.0")));
                transport.MessageReceived += OnFrame;
                transport.Closed += (code, reason) => closeCode = code;
                transport.Connect(WorldlineUrl.Build(new Uri(url), world, null), new[] { WorldlineUrl.ProtoSubprotocol });
                var run = Stopwatch.StartNew();
                long step = 0, at = 0;
                while (run.ElapsedMilliseconds < ms && closeCode == 0 && RepeatedFrameError == "")
                {
                    transport.DispatchMessageQueue();
                    // Each step waits for the one before (and lets the server settle): ping, ticks, ping, repeated tick.
                    if (Welcomed && step == 0 && run.ElapsedMilliseconds >= at) { step = 1; at = run.ElapsedMilliseconds + 200; }
                    else if (step == 1 && run.ElapsedMilliseconds >= at) { Ping(); step = 2; }
                    else if (step == 2 && pongs == 1) { Tick(1); Tick(2); Tick(3); step = 3; at = run.ElapsedMilliseconds + 300; }
                    else if (step == 3 && run.ElapsedMilliseconds >= at) { Ping(); step = 4; }
                    else if (step == 4 && pongs == 2) { Tick(3); step = 5; }
                    Thread.Sleep(5);
                }
                transport.Close(1000, "done");
                var wait = Stopwatch.StartNew();
                while (closeCode == 0 && wait.ElapsedMilliseconds < 3000) { transport.DispatchMessageQueue(); Thread.Sleep(5); }
                transport.Dispose();
            }

            void OnFrame(byte[] bytes)
            {
                var r = new ProtoWireReader(bytes);
                int f, g;
                WireType type, u;
                while (r.Next(out f, out type))
                {
                    if (type != WireType.LengthDelimited) { r.Skip(type); continue; }
                    var m = r.ReadMessage();
                    if (f == 1) // welcome
                    {
                        WelcomeAgent = "";
                        WelcomeViewSeq = 0;
                        while (m.Next(out g, out u))
                        {
                            if (g == 3) WelcomeAgent = m.ReadString();
                            else if (g == 6) WelcomeViewSeq = (long)m.ReadVarint();
                            else if (g == 7) { WelcomeSnapshot = true; m.Skip(u); }
                            else m.Skip(u);
                        }
                        Welcomed = true;
                    }
                    else if (f == 6) // pong
                    {
                        long sim = 0;
                        while (m.Next(out g, out u)) { if (g == 3) sim = (long)m.ReadVarint(); else m.Skip(u); }
                        if (++pongs == 1) SimBeforeTicks = sim; else SimAfterTicks = sim;
                    }
                    else if (f == 7) // error
                    {
                        string name = "";
                        while (m.Next(out g, out u)) { if (g == 2) name = m.ReadString(); else m.Skip(u); }
                        if (pongs >= 2) RepeatedFrameError = name;
                        else Console.WriteLine("  live engine: unexpected error " + name);
                    }
                }
            }
        }

        sealed class Session
        {
            readonly string url, world, token;
            readonly bool queryToken, spawn;
            readonly AgentView view;
            readonly ClockSync clock;
            readonly long resume;
            readonly PathDictionary paths = new PathDictionary();
            readonly Stopwatch sw = Stopwatch.StartNew();
            ClientWebSocketTransport transport;
            public bool Welcomed, SpawnAccepted;
            public long WelcomeViewSeq = -1;
            public int Deltas, Gaps, Snapshots, CloseCode;
            public string ErrorName = "";

            public Session(string url, string world, string token, bool queryToken, AgentView view, ClockSync clock, long resume, bool spawn)
            {
                this.url = url; this.world = world; this.token = token; this.queryToken = queryToken;
                this.view = view; this.clock = clock; this.resume = resume; this.spawn = spawn;
            }

            public void Run(int ms)
            {
                transport = new ClientWebSocketTransport();
                transport.Opened += () => transport.Send(Frame(1, Hello()));
                transport.MessageReceived += OnFrame;
                transport.Closed += (code, reason) => CloseCode = code;
                transport.Connect(WorldlineUrl.Build(new Uri(url), world, queryToken ? token : null), new[] { WorldlineUrl.ProtoSubprotocol });
                var run = Stopwatch.StartNew();
                double nextPing = 0;
                while (run.ElapsedMilliseconds < ms && CloseCode == 0)
                {
                    transport.DispatchMessageQueue();
                    if (Welcomed && run.ElapsedMilliseconds >= nextPing)
                    {
                        var p = new W().Fixed64(1, sw.Elapsed.TotalMilliseconds);
                        transport.Send(Frame(6, p));
                        nextPing += 200;
                    }
                    Thread.Sleep(5);
                }
                transport.Close(1000, "done");
                var wait = Stopwatch.StartNew();
                while (CloseCode == 0 && wait.ElapsedMilliseconds < 3000) { transport.DispatchMessageQueue(); Thread.Sleep(5); }
                transport.Dispose();
            }

            W Hello()
            {
                var h = new W();
                if (!queryToken) h.Str(1, token);
                h.Str(2, "agent-1").Varint(3, 1).Str(4, "worldline-unity-tests").Str(5, "1.0.0");
                if (resume >= 0) h.Msg(6, new W().Varint(1, (ulong)resume));
                return h;
            }

            static byte[] Frame(int member, W body) { return new W().Msg(member, body).Bytes(); }

            void OnFrame(byte[] bytes)
            {
                var r = new ProtoWireReader(bytes);
                int f, g;
                WireType type, u;
                while (r.Next(out f, out type))
                {
                    if (type != WireType.LengthDelimited) { r.Skip(type); continue; }
                    var m = r.ReadMessage();
                    switch (f)
                    {
                        case 1: // welcome
                            while (m.Next(out g, out u))
                            {
                                if (g == 6) WelcomeViewSeq = (long)m.ReadVarint();
                                else if (g == 7) Snapshot(m.ReadMessage());
                                else m.Skip(u);
                            }
                            Welcomed = true;
                            if (spawn)
                            {
                                string payload = "{\"entity_id\":\"agent-1\",\"fields\":{\"x\":700,\"y\":500}}";
                                var intent = new W().Str(1, "spawn-" + Guid.NewGuid().ToString("N")).Str(2, "Spawn").Bytes(3, Encoding.UTF8.GetBytes(payload)).Varint(4, (ulong)Math.Max(0, view.ViewSeq));
                                transport.Send(Frame(2, new W().Msg(1, intent)));
                            }
                            break;
                        case 2: // observation_delta
                            {
                                long viewSeq = 0, fromSeq = 0;
                                byte[] ops = new byte[0], digest = null;
                                while (m.Next(out g, out u))
                                {
                                    if (g == 1) viewSeq = (long)m.ReadVarint();
                                    else if (g == 2) fromSeq = (long)m.ReadVarint();
                                    else if (g == 3) digest = m.ReadBytes();
                                    else if (g == 4) ops = m.ReadBytes();
                                    else m.Skip(u);
                                }
                                var outcome = view.ApplyDelta(fromSeq, viewSeq, OpStream.Decode(ops, paths), digest);
                                if (outcome == DeltaOutcome.Applied) Deltas++;
                                else if (outcome == DeltaOutcome.Gap) Gaps++;
                                break;
                            }
                        case 3: Snapshot(m); break;
                        case 4: // intent_result
                            while (m.Next(out g, out u)) { if (g == 2) SpawnAccepted |= m.ReadVarint() == 1; else m.Skip(u); }
                            break;
                        case 6: // pong
                            {
                                double sent = 0, server = 0;
                                ulong sim = 0;
                                while (m.Next(out g, out u))
                                {
                                    if (g == 1) sent = m.ReadDouble();
                                    else if (g == 2) server = m.ReadDouble();
                                    else if (g == 3) sim = m.ReadVarint();
                                    else m.Skip(u);
                                }
                                clock.AddSample(sent, server, sw.Elapsed.TotalMilliseconds, sim);
                                break;
                            }
                        case 7: // error
                            while (m.Next(out g, out u)) { if (g == 2) ErrorName = m.ReadString(); else m.Skip(u); }
                            break;
                    }
                }
            }

            void Snapshot(ProtoWireReader s)
            {
                int g;
                WireType u;
                long viewSeq = 0;
                byte[] json = null, digest = null;
                while (s.Next(out g, out u))
                {
                    if (g == 1) viewSeq = (long)s.ReadVarint();
                    else if (g == 2) json = s.ReadBytes();
                    else if (g == 3) digest = s.ReadBytes();
                    else s.Skip(u);
                }
                view.ApplySnapshot(viewSeq, JsonParser.ParseUtf8(json), digest);
                Snapshots++;
            }
        }

        /// <summary>A minimal protobuf writer for the frames above.</summary>
        sealed class W
        {
            readonly MemoryStream s = new MemoryStream();
            void Raw(ulong v) { do { byte b = (byte)(v & 0x7F); v >>= 7; if (v != 0) b |= 0x80; s.WriteByte(b); } while (v != 0); }
            public W Varint(int field, ulong v) { Raw((ulong)(field << 3)); Raw(v); return this; }
            public W Fixed64(int field, double d) { Raw((ulong)(field << 3 | 1)); var b = BitConverter.GetBytes(d); if (!BitConverter.IsLittleEndian) Array.Reverse(b); s.Write(b, 0, 8); return this; }
            public W Bytes(int field, byte[] b) { Raw((ulong)(field << 3 | 2)); Raw((ulong)b.Length); s.Write(b, 0, b.Length); return this; }
            public W Str(int field, string x) { return Bytes(field, Encoding.UTF8.GetBytes(x)); }
            public W Msg(int field, W m) { return Bytes(field, m.Bytes()); }
            public byte[] Bytes() { return s.ToArray(); }
        }
    }
}
