using System;
using System.Collections.Generic;

namespace Worldline.Client
{
    /// <summary>Where a transport is in its life.</summary>
    public enum TransportState { Idle, Connecting, Open, Closing, Closed }

    /// <summary>
    /// One WebSocket connection with the NativeWebSocket pattern: the socket's own thread (or the browser's event
    /// loop) only queues events; <see cref="DispatchMessageQueue"/>, called from the game loop (MonoBehaviour.Update),
    /// raises them, so every handler runs on the main thread and may touch Unity objects.
    /// <see cref="ClientWebSocketTransport"/> implements it on System.Net.WebSockets for every platform but WebGL;
    /// on WebGL plug in a transport backed by a .jslib around the browser's WebSocket (see README).
    /// A transport is used for one connection: the client makes a new one to reconnect.
    /// </summary>
    public interface IWorldlineTransport : IDisposable
    {
        TransportState State { get; }

        /// <summary>The subprotocol the server picked (valid once open).</summary>
        string Subprotocol { get; }

        /// <summary>Starts connecting; <see cref="Opened"/> or <see cref="Closed"/> follows through the queue.</summary>
        void Connect(Uri uri, IList<string> subprotocols);

        /// <summary>Queues one binary message; false when the socket is not open.</summary>
        bool Send(byte[] message);

        /// <summary>Starts a clean close; <see cref="Closed"/> follows.</summary>
        void Close(int code, string reason);

        /// <summary>Bytes queued for sending and not yet handed to the network.</summary>
        long BufferedBytes { get; }

        /// <summary>Raises the events queued since the last call, in order, on the calling thread.</summary>
        void DispatchMessageQueue();

        event Action Opened;
        /// <summary>One whole binary message.</summary>
        event Action<byte[]> MessageReceived;
        /// <summary>A transport problem, described for a log (a <see cref="Closed"/> follows when the socket is gone).</summary>
        event Action<string> Error;
        /// <summary>The connection is over: the close code (1006 when it dropped without one) and reason.</summary>
        event Action<int, string> Closed;
    }

    /// <summary>
    /// A thread-safe queue of actions filled from any thread and drained on the main thread: the heart of the
    /// NativeWebSocket pattern. Swaps two lists under a lock so draining allocates nothing in steady state.
    /// </summary>
    public sealed class MainThreadQueue
    {
        readonly object gate = new object();
        List<Action> pending = new List<Action>();
        List<Action> draining = new List<Action>();

        public void Enqueue(Action action)
        {
            if (action == null) throw new ArgumentNullException("action");
            lock (gate) pending.Add(action);
        }

        public int Count { get { lock (gate) return pending.Count; } }

        /// <summary>Runs every queued action in order on the calling thread; returns how many ran.</summary>
        public int Drain()
        {
            lock (gate)
            {
                if (pending.Count == 0) return 0;
                var t = pending;
                pending = draining;
                draining = t;
            }
            int i = 0;
            try
            {
                for (; i < draining.Count; i++) draining[i]();
                return i;
            }
            catch
            {
                // A handler threw: keep the actions after it, ahead of anything queued since, and let it propagate.
                lock (gate) pending.InsertRange(0, draining.GetRange(i + 1, draining.Count - i - 1));
                throw;
            }
            finally
            {
                draining.Clear();
            }
        }
    }
}
