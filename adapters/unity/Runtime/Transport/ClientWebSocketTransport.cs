using System;
using System.Collections.Generic;
using System.IO;
using System.Net.WebSockets;
using System.Threading;
using System.Threading.Tasks;

namespace Worldline.Client
{
    /// <summary>
    /// <see cref="IWorldlineTransport"/> on System.Net.WebSockets.ClientWebSocket (Unity standalone, mobile, editor;
    /// any .NET). Not for WebGL, where the browser owns sockets: there a .jslib transport is needed, and the token
    /// must go in the query string because browsers cannot set WebSocket headers.
    /// Receiving runs on a thread-pool task that only queues events; sends go out one at a time in call order
    /// (ClientWebSocket allows one send in flight).
    /// </summary>
    public sealed class ClientWebSocketTransport : IWorldlineTransport
    {
        /// <summary>Largest message accepted from the server (a snapshot of a large view can be big).</summary>
        public int MaxMessageBytes = 64 * 1024 * 1024;
        /// <summary>How long to wait for the TCP and WebSocket handshake.</summary>
        public TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

        readonly MainThreadQueue queue = new MainThreadQueue();
        readonly object sendGate = new object();
        readonly CancellationTokenSource cts = new CancellationTokenSource();
        ClientWebSocket socket;
        Task sendChain = CompletedTask();
        long buffered;
        int state = (int)TransportState.Idle;
        int closedRaised;
        int requestedCode = 1006;
        string requestedReason = "connection lost";

        public event Action Opened;
        public event Action<byte[]> MessageReceived;
        public event Action<string> Error;
        public event Action<int, string> Closed;

        public TransportState State { get { return (TransportState)Volatile.Read(ref state); } }
        public string Subprotocol { get; private set; }
        public long BufferedBytes { get { return Interlocked.Read(ref buffered); } }

        static Task CompletedTask()
        {
            var t = new TaskCompletionSource<bool>();
            t.SetResult(true);
            return t.Task;
        }

        public void Connect(Uri uri, IList<string> subprotocols)
        {
            if (uri == null) throw new ArgumentNullException("uri");
            if (Interlocked.CompareExchange(ref state, (int)TransportState.Connecting, (int)TransportState.Idle) != (int)TransportState.Idle)
                throw new InvalidOperationException("a transport connects once; make a new one to reconnect");
            socket = new ClientWebSocket();
            if (subprotocols != null) foreach (var p in subprotocols) socket.Options.AddSubProtocol(p);
            Task.Run(() => Run(uri));
        }

        async Task Run(Uri uri)
        {
            try
            {
                using (var timeout = new CancellationTokenSource(ConnectTimeout))
                using (var linked = CancellationTokenSource.CreateLinkedTokenSource(cts.Token, timeout.Token))
                {
                    await socket.ConnectAsync(uri, linked.Token).ConfigureAwait(false);
                }
                Subprotocol = socket.SubProtocol;
                Interlocked.CompareExchange(ref state, (int)TransportState.Open, (int)TransportState.Connecting);
                queue.Enqueue(() => { var h = Opened; if (h != null) h(); });
                await ReceiveLoop().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                if (!cts.IsCancellationRequested) RaiseError(Describe(e));
            }
            // Without a close frame from the server: our own Close's code, or 1006 (abnormal closure).
            int code = requestedCode;
            string reason = requestedReason;
            try
            {
                if (socket.CloseStatus.HasValue)
                {
                    code = (int)socket.CloseStatus.Value;
                    reason = socket.CloseStatusDescription ?? "";
                }
            }
            catch (ObjectDisposedException) { }
            RaiseClosed(code, reason);
        }

        async Task ReceiveLoop()
        {
            var chunk = new byte[16 * 1024];
            var message = new MemoryStream();
            while (!cts.IsCancellationRequested)
            {
                WebSocketReceiveResult r = await socket.ReceiveAsync(new ArraySegment<byte>(chunk), cts.Token).ConfigureAwait(false);
                if (r.MessageType == WebSocketMessageType.Close)
                {
                    if (socket.State == WebSocketState.CloseReceived)
                    {
                        // Complete the closing handshake the server started.
                        try { await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).ConfigureAwait(false); }
                        catch (Exception) { }
                    }
                    return;
                }
                message.Write(chunk, 0, r.Count);
                if (message.Length > MaxMessageBytes)
                {
                    RaiseError("message larger than " + MaxMessageBytes + " bytes");
                    await CloseAsync(WebSocketCloseStatus.MessageTooBig, "message too big").ConfigureAwait(false);
                    return;
                }
                if (!r.EndOfMessage) continue;
                if (r.MessageType == WebSocketMessageType.Binary)
                {
                    byte[] bytes = message.ToArray();
                    queue.Enqueue(() => { var h = MessageReceived; if (h != null) h(bytes); });
                }
                else RaiseError("text frame on a binary subprotocol ignored");
                message.SetLength(0);
            }
        }

        public bool Send(byte[] message)
        {
            if (message == null) throw new ArgumentNullException("message");
            if (State != TransportState.Open) return false;
            Interlocked.Add(ref buffered, message.Length);
            lock (sendGate)
            {
                sendChain = sendChain.ContinueWith(async _ =>
                {
                    try
                    {
                        if (socket.State == WebSocketState.Open)
                            await socket.SendAsync(new ArraySegment<byte>(message), WebSocketMessageType.Binary, true, cts.Token).ConfigureAwait(false);
                    }
                    catch (Exception e)
                    {
                        if (!cts.IsCancellationRequested) RaiseError("send failed: " + Describe(e));
                    }
                    finally
                    {
                        Interlocked.Add(ref buffered, -message.Length);
                    }
                }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
            }
            return true;
        }

        public void Close(int code, string reason)
        {
            TransportState s = State;
            if (s == TransportState.Closing || s == TransportState.Closed) return;
            requestedCode = code;
            requestedReason = reason ?? "";
            if (s == TransportState.Idle)
            {
                Volatile.Write(ref state, (int)TransportState.Closing);
                RaiseClosed(code, reason);
                return;
            }
            Volatile.Write(ref state, (int)TransportState.Closing);
            if (s == TransportState.Connecting)
            {
                cts.Cancel(); // the connect fails, and Run reports the close
                return;
            }
            Forget(CloseAsync((WebSocketCloseStatus)code, reason));
        }

        async Task CloseAsync(WebSocketCloseStatus status, string reason)
        {
            Volatile.Write(ref state, (int)TransportState.Closing);
            try
            {
                Task pending;
                lock (sendGate) pending = sendChain;
                await pending.ConfigureAwait(false); // let queued frames go first
                using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
                    await socket.CloseOutputAsync(status, reason, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                cts.Cancel(); // the receive loop ends and Run reports the close
            }
        }

        public void DispatchMessageQueue() { queue.Drain(); }

        void RaiseError(string message)
        {
            queue.Enqueue(() => { var h = Error; if (h != null) h(message); });
        }

        void RaiseClosed(int code, string reason)
        {
            if (Interlocked.Exchange(ref closedRaised, 1) != 0) return;
            Volatile.Write(ref state, (int)TransportState.Closed);
            queue.Enqueue(() => { var h = Closed; if (h != null) h(code, reason); });
        }

        // Close runs in the background; its failures are handled inside CloseAsync.
        static void Forget(Task task) { }

        static string Describe(Exception e)
        {
            var inner = e;
            while (inner.InnerException != null && (inner is AggregateException || inner is WebSocketException)) inner = inner.InnerException;
            return inner == e ? e.Message : e.Message + " (" + inner.Message + ")";
        }

        public void Dispose()
        {
            if (State != TransportState.Closed) Close(1001, "going away");
            cts.Cancel();
            var s = socket;
            if (s != null)
            {
                // Give Run a moment to observe the cancellation before the socket goes.
                Task.Delay(100).ContinueWith(_ => s.Dispose());
            }
        }
    }
}
