using System;
using System.Collections.Generic;
using Google.Protobuf;
using Worldline.Client.Json;
using Worldline.V1;
using V1Emit = Worldline.V1.Emit;
using V1Error = Worldline.V1.Error;

namespace Worldline.Client
{
    /// <summary>
    /// A Worldline connection over the `worldline.v1.proto` subprotocol: Hello, the agent's view (snapshot, then
    /// deltas applied in view_seq order), intents and generations, clock sync, engine frames, and reconnect with
    /// resume. Single-threaded: call <see cref="Update"/> every frame (MonoBehaviour.Update); every event is raised
    /// from inside it, on the caller's thread. Nothing here uses UnityEngine (see WorldlineBehaviour for the wrapper).
    /// </summary>
    public sealed class WorldlineClient : IDisposable
    {
        readonly WorldlineClientOptions options;
        readonly Func<double> now;
        readonly Func<IWorldlineTransport> makeTransport;
        readonly List<string> pendingOrder = new List<string>();
        readonly Dictionary<string, PendingIntent> pending = new Dictionary<string, PendingIntent>();

        IWorldlineTransport transport;
        PathDictionary paths = new PathDictionary();
        ServerError joinError;
        double deadline;       // Connecting/Joining: give up then; WaitingToReconnect: retry then
        double nextPing;
        double stableAt;       // Ready: the Backoff starts again once the connection has lasted until then (0: done)
        bool resumeAllowed = true;
        bool attemptOpened;    // the current attempt's socket opened (else a close means the upgrade failed)
        System.Threading.Tasks.Task<ServerError> probe; // why an upgrade failed, asked over REST (WorldProbe)

        sealed class PendingIntent
        {
            public ClientFrame Frame;
            public Action<IntentResult> OnResult;
        }

        /// <summary>The agent's view, kept current by snapshots and deltas.</summary>
        public readonly AgentView View = new AgentView();
        /// <summary>Server clock estimate from Ping/Pong.</summary>
        public readonly ClockSync Clock = new ClockSync();

        public ConnectionState State { get; private set; }
        /// <summary>The Welcome of the current (or last) connection.</summary>
        public Welcome Welcome { get; private set; }
        /// <summary>The last error the server sent (Error frame), if any.</summary>
        public ServerError LastError { get; private set; }

        /// <summary>Welcome received (after every reconnect too). The view is already updated.</summary>
        public event Action<Welcome> Connected;
        /// <summary>The view changed (snapshot or delta).</summary>
        public event Action<ViewChange> ViewChanged;
        /// <summary>An intent's (or an Emit with req_id's) outcome.</summary>
        public event Action<IntentResult> IntentResultReceived;
        /// <summary>A generation begun with BeginGeneration went stale: regenerate against the current view.</summary>
        public event Action<Cancelled> GenerationCancelled;
        /// <summary>Engine role: an agent's committed Move for the engine to carry out.</summary>
        public event Action<MoveCommand> MoveCommandReceived;
        /// <summary>A server Error frame (a refused Hello, a frame the server could not accept, a rate limit...).</summary>
        public event Action<ServerError> ErrorReceived;
        /// <summary>A Pong updated <see cref="Clock"/>.</summary>
        public event Action<ClockSync> ClockUpdated;
        /// <summary>The connection ended: close code, reason, and whether a reconnect is scheduled.</summary>
        public event Action<int, string, bool> Disconnected;
        /// <summary>Something for a log: transport errors, protocol errors, resyncs.</summary>
        public event Action<string> Log;

        public WorldlineClient(WorldlineClientOptions options)
        {
            if (options == null) throw new ArgumentNullException("options");
            options.Validate();
            this.options = options;
            now = options.ClockOrDefault();
            makeTransport = options.TransportOrDefault();
            View.VerifyDigests = options.VerifyDigests;
            State = ConnectionState.Disconnected;
        }

        /// <summary>True when frames can be sent (Welcome received).</summary>
        public bool IsReady { get { return State == ConnectionState.Ready; } }

        /// <summary>Starts connecting (no-op when already connected or connecting).</summary>
        public void Connect()
        {
            if (State != ConnectionState.Disconnected && State != ConnectionState.Stopped) return;
            options.Backoff.Reset();
            StartAttempt();
        }

        /// <summary>Closes the connection and stops reconnecting. The view is kept, so Connect resumes from it.</summary>
        public void Disconnect()
        {
            var t = transport;
            State = ConnectionState.Disconnected;
            if (t != null)
            {
                Detach(t);
                t.Close(1000, "client disconnect");
                t.Dispose();
            }
            transport = null;
        }

        /// <summary>Pumps the connection: raises queued events, sends pings, runs reconnect and join timers. Call every frame.</summary>
        public void Update()
        {
            var t = transport;
            if (t != null) t.DispatchMessageQueue();
            double at = now();
            switch (State)
            {
                case ConnectionState.Connecting:
                case ConnectionState.Joining:
                    if (at >= deadline) Drop(1006, "no Welcome within " + options.JoinTimeout.TotalSeconds + " s", false);
                    break;
                case ConnectionState.Ready:
                    if (stableAt > 0 && at >= stableAt)
                    {
                        // Only a connection that lasted counts as a success: one dropped right after its Welcome
                        // (a crash loop, a proxy cutting sockets) keeps backing off instead of retrying at the first delay.
                        options.Backoff.Reset();
                        stableAt = 0;
                    }
                    if (options.PingInterval > TimeSpan.Zero && at >= nextPing) Ping();
                    break;
                case ConnectionState.WaitingToReconnect:
                    if (probe != null)
                    {
                        // The next attempt waits for the server's answer on why the last upgrade failed (bounded by its timeout).
                        if (!probe.IsCompleted) break;
                        var refused = probe.Status == System.Threading.Tasks.TaskStatus.RanToCompletion ? probe.Result : null;
                        probe = null;
                        if (refused != null && WorldProbe.IsFinal(WorldProbe.HttpStatusOf(refused)))
                        {
                            // A world that is gone, a token it refuses: every retry would be refused the same way.
                            LastError = refused;
                            Raise(ErrorReceived, refused);
                            Stop(1006, "refused by the server: " + refused);
                            break;
                        }
                    }
                    if (at >= deadline) StartAttempt();
                    break;
            }
        }

        void StartAttempt()
        {
            paths = new PathDictionary(); // path definitions belong to one connection
            joinError = null;
            Welcome = null;
            attemptOpened = false;
            var t = makeTransport();
            transport = t;
            t.Opened += OnOpened;
            t.MessageReceived += OnMessage;
            t.Error += OnTransportError;
            t.Closed += OnClosed;
            State = ConnectionState.Connecting;
            deadline = now() + options.JoinTimeout.TotalMilliseconds;
            string queryToken = options.TokenPlacement == TokenPlacement.QueryString ? options.Token : null;
            try
            {
                t.Connect(WorldlineUrl.Build(options.ServerUrl, options.WorldId, queryToken), new[] { WorldlineUrl.ProtoSubprotocol });
            }
            catch (Exception e)
            {
                Raise(Log, "connect failed: " + e.Message);
                Drop(1006, e.Message, false);
            }
        }

        void Detach(IWorldlineTransport t)
        {
            t.Opened -= OnOpened;
            t.MessageReceived -= OnMessage;
            t.Error -= OnTransportError;
            t.Closed -= OnClosed;
        }

        void OnOpened()
        {
            attemptOpened = true;
            if (transport.Subprotocol != WorldlineUrl.ProtoSubprotocol)
            {
                Stop(1002, "the server did not accept subprotocol " + WorldlineUrl.ProtoSubprotocol + " (it picked \"" + transport.Subprotocol + "\")");
                return;
            }
            var hello = new Hello
            {
                Token = options.TokenPlacement == TokenPlacement.Hello ? options.Token : "",
                AgentId = options.AgentId,
                Role = (Role)(int)options.Role,
                ClientVersion = options.ClientVersion,
                SchemaVersion = ReconnectPolicy.SchemaVersion,
            };
            // The incarnation the view belongs to (kept by the view: Welcome is cleared when an attempt starts): a world
            // deleted with purge and created again under its id answers a snapshot rather than deltas of another world.
            if (resumeAllowed && View.ViewSeq >= 0) hello.Resume = new Resume { ViewSeq = (ulong)View.ViewSeq, Incarnation = View.Incarnation };
            State = ConnectionState.Joining;
            transport.Send(new ClientFrame { Hello = hello }.ToByteArray());
        }

        void OnTransportError(string message) { Raise(Log, "transport: " + message); }

        void OnClosed(int code, string reason)
        {
            var t = transport;
            if (t != null) { Detach(t); t.Dispose(); }
            transport = null;
            if (State == ConnectionState.Disconnected || State == ConnectionState.Stopped) return;
            if (!options.AutoReconnect || ReconnectPolicy.AfterClose(code, joinError) == ReconnectDecision.Stop)
            {
                State = joinError != null || code == 1008 || code == 1002 || code == 1003 ? ConnectionState.Stopped : ConnectionState.Disconnected;
                var h = Disconnected;
                if (h != null) h(code, reason, false);
                return;
            }
            TimeSpan delay = options.Backoff.Next(ReconnectPolicy.Hint(joinError ?? LastError));
            deadline = now() + delay.TotalMilliseconds;
            // Closed before it opened: the upgrade failed, and ClientWebSocket does not say why. Ask the server.
            if (!attemptOpened && probe == null && options.ProbeRefusals)
                probe = WorldProbe.ProbeAsync(WorldlineUrl.Resource(options.ServerUrl, options.WorldId), options.Token, TimeSpan.FromSeconds(5));
            State = ConnectionState.WaitingToReconnect;
            var d = Disconnected;
            if (d != null) d(code, reason, true);
        }

        /// <summary>Ends this connection; reconnects (with or without resume) unless stopped.</summary>
        void Drop(int code, string reason, bool withoutResume)
        {
            if (withoutResume) resumeAllowed = false;
            var t = transport;
            if (t != null)
            {
                Detach(t);
                t.Close(code == 1006 ? 1000 : code, reason);
                t.Dispose();
                transport = null;
            }
            State = ConnectionState.Connecting; // so OnClosed schedules a reconnect
            OnClosed(code, reason);
        }

        void Stop(int code, string reason)
        {
            Raise(Log, reason);
            var t = transport;
            if (t != null) { Detach(t); t.Close(code, reason); t.Dispose(); }
            transport = null;
            State = ConnectionState.Stopped;
            var h = Disconnected;
            if (h != null) h(code, reason, false);
        }

        void OnMessage(byte[] bytes)
        {
            ServerFrame frame;
            try
            {
                frame = ServerFrame.Parser.ParseFrom(bytes);
            }
            catch (InvalidProtocolBufferException e)
            {
                Raise(Log, "unreadable ServerFrame (" + e.Message + "); reconnecting");
                Drop(1000, "unreadable frame", false);
                return;
            }
            try
            {
                Handle(frame);
            }
            catch (ProtocolException e)
            {
                // A bad op stream: our path dictionary can no longer be trusted, but the view (unchanged) can.
                Raise(Log, "protocol error: " + e.Message + "; reconnecting with resume");
                Drop(1000, "resync", false);
            }
            catch (JsonPatchException e)
            {
                Raise(Log, "a delta did not apply (" + e.Message + "); reconnecting with resume from view_seq " + View.ViewSeq);
                Drop(1000, "resync", false);
            }
            catch (ViewDigestMismatchException e)
            {
                Raise(Log, e.Message);
                Drop(1000, "resync", true);
            }
            catch (JsonParseException e)
            {
                Raise(Log, "a snapshot's view_json is not JSON (" + e.Message + "); reconnecting for a fresh snapshot");
                View.Clear();
                Drop(1000, "resync", true);
            }
        }

        void Handle(ServerFrame frame)
        {
            switch (frame.FrameCase)
            {
                case ServerFrame.FrameOneofCase.Welcome: OnWelcome(frame.Welcome); break;
                case ServerFrame.FrameOneofCase.ObservationDelta: OnDelta(frame.ObservationDelta); break;
                case ServerFrame.FrameOneofCase.Snapshot: ApplySnapshot(frame.Snapshot); break;
                case ServerFrame.FrameOneofCase.IntentResult: OnIntentResult(frame.IntentResult); break;
                case ServerFrame.FrameOneofCase.Cancelled: Raise(GenerationCancelled, frame.Cancelled); break;
                case ServerFrame.FrameOneofCase.Pong: OnPong(frame.Pong); break;
                case ServerFrame.FrameOneofCase.Error: OnError(frame.Error); break;
                case ServerFrame.FrameOneofCase.MoveCommand: Raise(MoveCommandReceived, frame.MoveCommand); break;
                default:
                    // A message from a newer minor version: ignore it, as readers ignore unknown fields.
                    Raise(Log, "ignored a server message this client does not know");
                    break;
            }
        }

        void OnWelcome(Welcome w)
        {
            if (State != ConnectionState.Joining) return;
            if (!w.SchemaVersion.StartsWith("1.", StringComparison.Ordinal))
            {
                Stop(1002, "the server speaks protocol " + w.SchemaVersion + "; this client speaks " + ReconnectPolicy.SchemaVersion);
                return;
            }
            Welcome = w;
            switch (ReconnectPolicy.OnWelcome(w.Snapshot != null, (long)w.ViewSeq, w.Agent, View.ViewSeq))
            {
                case WelcomeAction.ApplySnapshot: ApplySnapshot(w.Snapshot); View.Incarnation = w.Incarnation; break;
                case WelcomeAction.ResumeDeltas: View.Incarnation = w.Incarnation; break;
                case WelcomeAction.NoView: View.Clear(); break; // the engine without an agent: no view streams
                case WelcomeAction.Resync:
                    // The server resumes from the view_seq it was given; anything else means the view cannot be trusted.
                    Raise(Log, "Welcome resumes from " + w.ViewSeq + " but the view is at " + View.ViewSeq + "; taking a fresh snapshot");
                    View.Clear();
                    Drop(1000, "resync", true);
                    return;
            }
            State = ConnectionState.Ready;
            resumeAllowed = true;
            stableAt = now() + Math.Max(1.0, options.MinUptime.TotalMilliseconds);
            nextPing = now(); // sync the clock at once
            Raise(Connected, w);
            if (options.ResubmitPendingIntents)
                foreach (var reqId in pendingOrder.ToArray())
                {
                    PendingIntent p;
                    if (pending.TryGetValue(reqId, out p)) Send(p.Frame);
                }
        }

        void ApplySnapshot(Snapshot s)
        {
            long before = View.ViewSeq;
            View.ApplySnapshot((long)s.ViewSeq, ParseJson(s.ViewJson), s.ContextDigest.ToByteArray());
            Raise(ViewChanged, new ViewChange(true, before, View.ViewSeq, null, 0, 0, View));
        }

        void OnDelta(ObservationDelta d)
        {
            // Decode even a delta that will be ignored: its DEFINE records are needed by later frames.
            List<PatchOperation> ops = OpStream.Decode(d.Ops.ToByteArray(), paths);
            DeltaOutcome outcome = View.ApplyDelta((long)d.FromSeq, (long)d.ViewSeq, ops, d.ContextDigest.ToByteArray());
            if (outcome == DeltaOutcome.Applied)
                Raise(ViewChanged, new ViewChange(false, (long)d.FromSeq, (long)d.ViewSeq, ops, (long)d.GlobalSeq, (long)d.SimTime, View));
            else if (outcome == DeltaOutcome.Gap)
            {
                Raise(Log, "delta " + d.FromSeq + " -> " + d.ViewSeq + " does not follow view_seq " + View.ViewSeq + " (a frame was dropped); resuming");
                Drop(1000, "resume after a gap", false);
            }
        }

        void OnIntentResult(IntentResult r)
        {
            PendingIntent p;
            if (pending.TryGetValue(r.ReqId, out p))
            {
                pending.Remove(r.ReqId);
                pendingOrder.Remove(r.ReqId);
                if (p.OnResult != null) p.OnResult(r);
            }
            Raise(IntentResultReceived, r);
        }

        void OnPong(Pong p)
        {
            if (Clock.AddSample(p.ClientTime, p.ServerTime, now(), p.SimTime)) Raise(ClockUpdated, Clock);
        }

        void OnError(V1Error e)
        {
            ServerError err = ToServerError(e);
            LastError = err;
            if (State == ConnectionState.Joining) joinError = err;
            Raise(ErrorReceived, err);
            if (State == ConnectionState.Joining)
            {
                // Hello was refused. The server keeps the socket open for some refusals (INVALID_AGENT_ID): end it here.
                if (err.Recovery == RecoveryHint.Abort) Stop(1008, err.ToString());
                else if (err.Code == (int)ErrorCode.InvalidViewSeq) { View.Clear(); Drop(1000, "resync", true); }
                else Drop(1000, err.Name, false);
            }
        }

        /// <summary>A server error as the SDK's type (details parsed from JSON).</summary>
        public static ServerError ToServerError(V1Error e)
        {
            if (e == null) return null;
            JsonObject details = null;
            try
            {
                details = JsonParser.ParseUtf8(e.DetailsJson.ToByteArray()) as JsonObject;
            }
            catch (JsonParseException) { }
            return new ServerError((int)e.Code, e.Name, e.Message, (RecoveryHint)(int)e.Recovery, details);
        }

        static JsonValue ParseJson(ByteString bytes)
        {
            return JsonParser.ParseUtf8(bytes.ToByteArray());
        }

        static ByteString JsonBytes(JsonValue value)
        {
            // Empty bytes mean null on the wire.
            return value == null || value.IsNull ? ByteString.Empty : ByteString.CopyFrom(JsonWriter.ToUtf8(value));
        }

        // ------------------------------------------------------------------------------------------------------
        // Sending. Every method returns false (or null) when the client is not Ready: nothing is queued.
        // ------------------------------------------------------------------------------------------------------

        /// <summary>Sends any client frame; false when not connected.</summary>
        public bool Send(ClientFrame frame)
        {
            if (frame == null) throw new ArgumentNullException("frame");
            var t = transport;
            return State == ConnectionState.Ready && t != null && t.Send(frame.ToByteArray());
        }

        /// <summary>
        /// Submits an intent (agent role) and returns its req_id, or null when not connected. <paramref name="contextSeq"/>
        /// defaults to the view_seq of the view held now (the view the intent was decided on). The result comes as
        /// <paramref name="onResult"/> and <see cref="IntentResultReceived"/>; until then the intent is resent with the
        /// same req_id after a reconnect (an idempotent retry).
        /// </summary>
        public string SubmitIntent(string kind, JsonValue payload, int priority = 0, uint? deadlineMs = null, string reqId = null, long contextSeq = -1, Action<IntentResult> onResult = null)
        {
            if (string.IsNullOrEmpty(kind)) throw new ArgumentException("an intent needs a kind", "kind");
            if (priority < -1000 || priority > 1000) throw new ArgumentOutOfRangeException("priority", "priority is an integer in [-1000, 1000]");
            if (!IsReady) return null;
            string id = string.IsNullOrEmpty(reqId) ? NewReqId() : reqId;
            var intent = new Intent
            {
                ReqId = id,
                Kind = kind,
                PayloadJson = JsonBytes(payload),
                ContextSeq = (ulong)Math.Max(0, contextSeq >= 0 ? contextSeq : View.ViewSeq),
                Priority = priority,
            };
            if (deadlineMs.HasValue) intent.DeadlineMs = deadlineMs.Value;
            var frame = new ClientFrame { SubmitIntent = new SubmitIntent { Intent = intent } };
            if (!Send(frame)) return null;
            if (!pending.ContainsKey(id)) pendingOrder.Add(id);
            pending[id] = new PendingIntent { Frame = frame, OnResult = onResult };
            return id;
        }

        /// <summary>Asks for a cancel token for a generation started on the view at <paramref name="contextSeq"/> (default: now).</summary>
        public bool BeginGeneration(string reqId, long contextSeq = -1)
        {
            if (string.IsNullOrEmpty(reqId)) throw new ArgumentException("a req_id is needed", "reqId");
            return Send(new ClientFrame { BeginGeneration = new BeginGeneration { ReqId = reqId, ContextSeq = (ulong)Math.Max(0, contextSeq >= 0 ? contextSeq : View.ViewSeq) } });
        }

        /// <summary>Cancels a queued intent or an open generation; answered by an IntentResult (CANCELLED or the outcome).</summary>
        public bool CancelIntent(string reqId)
        {
            if (string.IsNullOrEmpty(reqId)) throw new ArgumentException("a req_id is needed", "reqId");
            return Send(new ClientFrame { CancelIntent = new CancelIntent { ReqId = reqId } });
        }

        /// <summary>Engine or admin role: an event that becomes an effect. With a req_id the server answers with an IntentResult.</summary>
        public bool Emit(string kind, JsonValue payload, int priority = 0, string reqId = "")
        {
            if (string.IsNullOrEmpty(kind)) throw new ArgumentException("an event needs a kind", "kind");
            return Send(new ClientFrame { Emit = new V1Emit { Kind = kind, PayloadJson = JsonBytes(payload), Priority = priority, ReqId = reqId ?? "" } });
        }

        /// <summary>Sends a Ping now (the client pings on its own every PingInterval).</summary>
        public bool Ping()
        {
            nextPing = now() + options.PingInterval.TotalMilliseconds;
            return Send(new ClientFrame { Ping = new Ping { ClientTime = now() } });
        }

        /// <summary>Engine role: one engine step (send one per FixedUpdate).</summary>
        public bool SendTimeTick(ulong simTime, double deltaTime, ulong frameNumber)
        {
            return Send(new ClientFrame { TimeTick = new TimeTick { SimTime = simTime, DeltaTime = deltaTime, FrameNumber = frameNumber } });
        }

        /// <summary>Engine role: a collision the physics engine detected.</summary>
        public bool SendCollision(string entityA, string entityB, double impactForce, Vec3 position, Vec3 normal)
        {
            return Send(new ClientFrame
            {
                CollisionEvent = new CollisionEvent
                {
                    EntityA = entityA ?? "",
                    EntityB = entityB ?? "",
                    ImpactForce = impactForce,
                    Position = position ?? new Vec3(),
                    Normal = normal ?? new Vec3(),
                },
            });
        }

        /// <summary>Engine role: positions after physics and MoveCommands, split into frames of MaxEntitiesPerReport.</summary>
        public bool SendPositions(ulong frameNumber, IList<EntityPosition> positions)
        {
            if (positions == null) throw new ArgumentNullException("positions");
            if (!IsReady) return false;
            bool ok = true;
            for (int start = 0; start < positions.Count || start == 0; start += options.MaxEntitiesPerReport)
            {
                var report = new PositionReport { FrameNumber = frameNumber };
                for (int i = start; i < positions.Count && i < start + options.MaxEntitiesPerReport; i++) report.Entities.Add(positions[i]);
                ok &= Send(new ClientFrame { PositionReport = report });
                if (positions.Count == 0) break;
            }
            return ok;
        }

        /// <summary>A Vec3 from three numbers.</summary>
        public static Vec3 Vec(double x, double y, double z) { return new Vec3 { X = x, Y = y, Z = z }; }

        /// <summary>One entity's position (and velocity when known) for <see cref="SendPositions"/>.</summary>
        public static EntityPosition Position(string entityId, Vec3 position, Vec3 velocity = null)
        {
            var p = new EntityPosition { EntityId = entityId ?? "", Position = position ?? new Vec3() };
            if (velocity != null) p.Velocity = velocity;
            return p;
        }

        /// <summary>Intents sent and not yet answered.</summary>
        public int PendingIntentCount { get { return pending.Count; } }

        /// <summary>Forgets a pending intent (it is no longer resent after a reconnect).</summary>
        public void ForgetIntent(string reqId)
        {
            if (pending.Remove(reqId)) pendingOrder.Remove(reqId);
        }

        static string NewReqId() { return Guid.NewGuid().ToString("N"); }

        static void Raise<TArg>(Action<TArg> handler, TArg arg)
        {
            if (handler != null) handler(arg);
        }

        public void Dispose() { Disconnect(); }
    }
}
