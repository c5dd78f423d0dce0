using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace Worldline.Client.Tests
{
    /// <summary>
    /// Main-thread dispatch, and ClientWebSocketTransport against a loopback WebSocket server (a minimal RFC 6455 server on TcpListener) that
    /// echoes binary messages and closes with a policy code on request. Every wait is bounded.
    /// </summary>
    static class TransportTests
    {
        public static void Run(T t)
        {
            Queue(t);
            Echo(t);
            Refused(t);
            Probe(t);
        }

        static void Queue(T t)
        {
            var q = new MainThreadQueue();
            var seen = new List<int>();
            int mainThread = Thread.CurrentThread.ManagedThreadId;
            bool allOnMain = true;
            var threads = new List<Thread>();
            for (int k = 0; k < 4; k++)
            {
                int offset = k * 1000;
                var th = new Thread(() =>
                {
                    for (int i = 0; i < 1000; i++)
                    {
                        int v = offset + i;
                        q.Enqueue(() => { if (Thread.CurrentThread.ManagedThreadId != mainThread) allOnMain = false; seen.Add(v); });
                    }
                });
                threads.Add(th);
                th.Start();
            }
            foreach (var th in threads) th.Join();
            t.Equal(0, seen.Count, "nothing runs before the queue is drained");
            t.Equal(4000, q.Drain(), "drain runs everything queued");
            t.True(allOnMain, "queued actions run on the draining thread");
            bool ordered = true;
            var last = new int[4] { -1, -1, -1, -1 };
            foreach (int v in seen) { int k = v / 1000; if (v % 1000 <= last[k]) ordered = false; last[k] = v % 1000; }
            t.True(ordered, "each producer's actions run in the order it queued them");

            q.Enqueue(() => seen.Add(-1));
            q.Enqueue(() => { throw new InvalidOperationException("handler bug"); });
            q.Enqueue(() => seen.Add(-3));
            t.Throws<InvalidOperationException>(() => q.Drain(), "a throwing handler propagates to the caller of Drain");
            t.Equal(1, q.Count, "the actions after it stay queued");
            q.Drain();
            t.Equal(-3, seen[seen.Count - 1], "and run on the next drain");
        }

        static int FreePort()
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            return port;
        }

        static void Echo(T t)
        {
            int port = FreePort();
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            string offered = null;
            string target = null;
            // Mono's HttpListener has no WebSocket support, so the loopback server speaks RFC 6455 itself.
            Task server = Task.Run(() =>
            {
                using (TcpClient client = listener.AcceptTcpClient())
                {
                    var ws = new MiniWebSocketServer(client.GetStream());
                    ws.Handshake("worldline.v1.proto");
                    offered = ws.OfferedSubprotocols;
                    target = ws.RequestTarget;
                    while (true)
                    {
                        byte[] m = ws.Receive();
                        if (m == null) break;
                        if (m.Length == 1 && m[0] == 0xFF)
                        {
                            ws.Close(1008, "quarantined");
                            ws.Receive(); // the client's close reply
                            break;
                        }
                        var echo = new byte[m.Length];
                        for (int i = 0; i < m.Length; i++) echo[i] = m[m.Length - 1 - i];
                        ws.Send(echo);
                    }
                }
            });

            var transport = new ClientWebSocketTransport();
            int mainThread = Thread.CurrentThread.ManagedThreadId;
            bool opened = false, allOnMain = true;
            var received = new List<byte[]>();
            int closeCode = 0;
            string closeReason = null;
            transport.Opened += () => { opened = true; allOnMain &= Thread.CurrentThread.ManagedThreadId == mainThread; };
            transport.MessageReceived += m => { received.Add(m); allOnMain &= Thread.CurrentThread.ManagedThreadId == mainThread; };
            transport.Closed += (code, reason) => { closeCode = code; closeReason = reason; };
            transport.Connect(WorldlineUrl.Build(new Uri("ws://127.0.0.1:" + port), "arena", "tok/en+1"), new[] { "worldline.v1.proto" });

            Pump(transport, () => opened || closeCode != 0);
            t.True(opened, "the transport opens");
            t.Equal("worldline.v1.proto", offered, "the subprotocol is offered");
            t.Equal("/v1/worlds/arena/ws?token=tok%2Fen%2B1", target, "the world's path, and the token escaped in the query string");
            t.Equal("worldline.v1.proto", transport.Subprotocol, "the server's pick is reported");

            var big = new byte[300 * 1024];
            new Random(1).NextBytes(big);
            big[0] = 1; // not the close request
            t.True(transport.Send(new byte[] { 1, 2, 3 }), "send while open");
            transport.Send(new byte[] { 4 });
            transport.Send(big);
            Pump(transport, () => received.Count >= 3);
            t.Equal(3, received.Count, "three echoes");
            if (received.Count >= 3)
            {
                t.Equal("3,2,1", string.Join(",", Array.ConvertAll(received[0], x => x.ToString())), "first echo, in order");
                t.Equal(4, (int)received[1][0], "second echo");
                t.True(received[2].Length == big.Length && received[2][0] == big[big.Length - 1] && received[2][big.Length - 1] == big[0], "a 300 KiB message arrives whole");
            }
            t.True(allOnMain, "events are raised on the thread that dispatches");

            transport.Send(new byte[] { 0xFF });
            Pump(transport, () => closeCode != 0);
            t.Equal(1008, closeCode, "the server's close code is reported");
            t.Equal("quarantined", closeReason, "with its reason");
            t.Equal(TransportState.Closed, transport.State, "the transport is closed");
            t.True(!transport.Send(new byte[] { 1 }), "send after close is refused");
            transport.Dispose();
            t.True(server.Wait(TimeSpan.FromSeconds(5)), "the server saw the close handshake through");
            listener.Stop();
        }

        static void Refused(T t)
        {
            int port = FreePort(); // nothing listens there
            var transport = new ClientWebSocketTransport();
            int closeCode = 0;
            string error = null;
            transport.Error += e => error = e;
            transport.Closed += (code, reason) => closeCode = code;
            transport.Connect(new Uri("ws://127.0.0.1:" + port + "/v1/worlds/w/ws"), new[] { "worldline.v1.proto" });
            Pump(transport, () => closeCode != 0);
            t.Equal(1006, closeCode, "a refused connection closes abnormally (1006)");
            t.True(error != null, "and reports why");
            transport.Dispose();
        }

        /// <summary>An HTTP server on loopback answering each request with the next (status, JSON body); it records the requests.</summary>
        static Task Answer(TcpListener listener, List<string> requests, params string[] answers)
        {
            return Task.Run(() =>
            {
                foreach (string answer in answers)
                {
                    using (TcpClient client = listener.AcceptTcpClient())
                    {
                        var stream = client.GetStream();
                        stream.ReadTimeout = 10000;
                        var head = new StringBuilder();
                        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
                        {
                            int b = stream.ReadByte();
                            if (b < 0) break;
                            head.Append((char)b);
                        }
                        lock (requests) requests.Add(head.ToString());
                        int sp = answer.IndexOf(' ');
                        string status = answer.Substring(0, sp), body = answer.Substring(sp + 1);
                        byte[] bytes = Encoding.UTF8.GetBytes(body);
                        byte[] headBytes = Encoding.ASCII.GetBytes("HTTP/1.1 " + status + " X\r\ncontent-type: application/json\r\ncontent-length: " + bytes.Length + "\r\nconnection: close\r\n\r\n");
                        stream.Write(headBytes, 0, headBytes.Length);
                        stream.Write(bytes, 0, bytes.Length);
                    }
                }
            });
        }

        static void Probe(T t)
        {
            t.Equal("http://127.0.0.1:8080/base/v1/worlds/match%2042", WorldlineUrl.Resource(new Uri("ws://127.0.0.1:8080/base/"), "match 42").AbsoluteUri, "a world's REST resource, from the server URL");
            t.Equal("https://h/v1/worlds/w", WorldlineUrl.Resource(new Uri("wss://h"), "w").AbsoluteUri, "wss gives https");
            t.True(WorldProbe.IsFinal(404) && WorldProbe.IsFinal(401) && WorldProbe.IsFinal(403), "404, 401, 403 are final");
            t.True(!WorldProbe.IsFinal(429) && !WorldProbe.IsFinal(408) && !WorldProbe.IsFinal(503) && !WorldProbe.IsFinal(200), "429, 408, 503 and 200 are not");
            t.True(WorldProbe.FromBody(502, "<html>bad gateway</html>") == null, "a body that is not a Worldline error gives none");

            int port = FreePort();
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            var requests = new List<string>();
            Task server = Answer(listener, requests,
                "404 {\"error\":{\"code\":5006,\"name\":\"WORLD_NOT_FOUND\",\"message\":\"no world \\\"m1\\\" here: GET /v1/worlds lists the worlds your token reaches\",\"recovery\":\"ABORT\",\"details\":{\"world\":\"m1\"}}}",
                "200 {\"id\":\"m1\"}",
                "503 {\"error\":{\"code\":7009,\"name\":\"LOG_CLOSED\",\"message\":\"server is starting: retry shortly\",\"recovery\":\"ABORT\",\"details\":{}}}");
            var resource = WorldlineUrl.Resource(new Uri("ws://127.0.0.1:" + port), "m1");
            ServerError gone = WorldProbe.ProbeAsync(resource, "tok", TimeSpan.FromSeconds(5)).Result;
            t.True(gone != null, "a world that is gone: the server's error");
            if (gone != null)
            {
                t.Equal("WORLD_NOT_FOUND", gone.Name, "its name");
                t.Equal(5006, gone.Code, "its code");
                t.Equal(RecoveryHint.Abort, gone.Recovery, "its recovery");
                t.Equal(404, WorldProbe.HttpStatusOf(gone), "and the HTTP status, in details");
                t.Equal("m1", gone.Details["world"].AsString, "the server's details kept");
            }
            t.True(WorldProbe.ProbeAsync(resource, "tok", TimeSpan.FromSeconds(5)).Result == null, "a world that is there: none");
            ServerError starting = WorldProbe.ProbeAsync(resource, "tok", TimeSpan.FromSeconds(5)).Result;
            t.True(starting != null && starting.Name == "LOG_CLOSED" && !WorldProbe.IsFinal(WorldProbe.HttpStatusOf(starting)), "a server starting: its error, not final");
            t.True(server.Wait(TimeSpan.FromSeconds(5)), "the server answered three requests");
            lock (requests)
            {
                t.True(requests.Count == 3 && requests[0].StartsWith("GET /v1/worlds/m1 HTTP/1.1", StringComparison.Ordinal), "a GET of the world's resource");
                t.True(requests.Count == 3 && requests[0].IndexOf("Authorization: Bearer tok", StringComparison.OrdinalIgnoreCase) >= 0, "with the token as a bearer token");
            }
            listener.Stop();
            t.True(WorldProbe.ProbeAsync(WorldlineUrl.Resource(new Uri("ws://127.0.0.1:" + FreePort()), "m1"), "tok", TimeSpan.FromSeconds(5)).Result == null, "no server: none (the client retries as before)");
        }

        // The game loop: dispatch until the condition holds, at most 10 s.
        static void Pump(IWorldlineTransport transport, Func<bool> done)
        {
            var sw = Stopwatch.StartNew();
            while (!done() && sw.Elapsed < TimeSpan.FromSeconds(10))
            {
                transport.DispatchMessageQueue();
                Thread.Sleep(5);
            }
            transport.DispatchMessageQueue();
        }
    }

    /// <summary>Just enough of an RFC 6455 server for the transport test: handshake, binary and close frames.</summary>
    sealed class MiniWebSocketServer
    {
        readonly NetworkStream stream;
        public string OfferedSubprotocols;
        public string RequestTarget;

        public MiniWebSocketServer(NetworkStream stream) { this.stream = stream; stream.ReadTimeout = 10000; }

        public void Handshake(string subprotocol)
        {
            var head = new StringBuilder();
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                int b = stream.ReadByte();
                if (b < 0) throw new IOException("closed during the handshake");
                head.Append((char)b);
            }
            string[] lines = head.ToString().Split(new[] { "\r\n" }, StringSplitOptions.RemoveEmptyEntries);
            RequestTarget = lines[0].Split(' ')[1];
            string key = null;
            foreach (var line in lines)
            {
                int colon = line.IndexOf(':');
                if (colon < 0) continue;
                string name = line.Substring(0, colon).Trim().ToLowerInvariant();
                string value = line.Substring(colon + 1).Trim();
                if (name == "sec-websocket-key") key = value;
                if (name == "sec-websocket-protocol") OfferedSubprotocols = value;
            }
            string accept;
            using (var sha = SHA1.Create())
                accept = Convert.ToBase64String(sha.ComputeHash(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
            byte[] response = Encoding.ASCII.GetBytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\nSec-WebSocket-Protocol: " + subprotocol + "\r\n\r\n");
            stream.Write(response, 0, response.Length);
        }

        byte[] ReadExactly(int n)
        {
            var buf = new byte[n];
            int got = 0;
            while (got < n)
            {
                int r = stream.Read(buf, got, n - got);
                if (r <= 0) throw new IOException("closed mid-frame");
                got += r;
            }
            return buf;
        }

        /// <summary>The next whole binary message, or null at a close frame.</summary>
        public byte[] Receive()
        {
            var message = new MemoryStream();
            while (true)
            {
                byte[] h = ReadExactly(2);
                bool fin = (h[0] & 0x80) != 0;
                int opcode = h[0] & 0x0F;
                long len = h[1] & 0x7F;
                if (len == 126) { var e = ReadExactly(2); len = e[0] << 8 | e[1]; }
                else if (len == 127) { var e = ReadExactly(8); len = 0; for (int i = 0; i < 8; i++) len = len << 8 | e[i]; }
                byte[] mask = (h[1] & 0x80) != 0 ? ReadExactly(4) : null;
                byte[] payload = ReadExactly((int)len);
                if (mask != null) for (int i = 0; i < payload.Length; i++) payload[i] ^= mask[i & 3];
                if (opcode == 8) return null;
                if (opcode == 9 || opcode == 10) continue; // ping, pong
                message.Write(payload, 0, payload.Length);
                if (fin) return message.ToArray();
            }
        }

        void Frame(int opcode, byte[] payload)
        {
            var f = new MemoryStream();
            f.WriteByte((byte)(0x80 | opcode));
            if (payload.Length < 126) f.WriteByte((byte)payload.Length);
            else if (payload.Length < 65536) { f.WriteByte(126); f.WriteByte((byte)(payload.Length >> 8)); f.WriteByte((byte)payload.Length); }
            else { f.WriteByte(127); for (int i = 7; i >= 0; i--) f.WriteByte((byte)((long)payload.Length >> (8 * i))); }
            f.Write(payload, 0, payload.Length);
            byte[] bytes = f.ToArray();
            stream.Write(bytes, 0, bytes.Length);
        }

        public void Send(byte[] message) { Frame(2, message); }

        public void Close(int code, string reason)
        {
            byte[] r = Encoding.UTF8.GetBytes(reason);
            var payload = new byte[2 + r.Length];
            payload[0] = (byte)(code >> 8);
            payload[1] = (byte)code;
            Buffer.BlockCopy(r, 0, payload, 2, r.Length);
            Frame(8, payload);
        }
    }
}
