using System;
using System.Diagnostics;

namespace Worldline.Client
{
    /// <summary>How a <c>WorldlineClient</c> connects. Only ServerUrl, WorldId, Token and (usually) AgentId are needed.</summary>
    public sealed class WorldlineClientOptions
    {
        /// <summary>The server, e.g. ws://127.0.0.1:8080 (wss: in production; http(s): also accepted).</summary>
        public Uri ServerUrl;
        /// <summary>The world to join (the {worldId} of /v1/worlds/{worldId}/ws).</summary>
        public string WorldId;
        /// <summary>A JWT or static token from the server operator; its role and agent claims decide what this client may do.</summary>
        public string Token = "";
        /// <summary>Hello (default) or the query string (required on WebGL).</summary>
        public TokenPlacement TokenPlacement = TokenPlacement.Hello;
        /// <summary>
        /// The agent to act as (agent role) or whose view to stream (viewer, admin); needed unless the token has an
        /// agent claim. Empty for the engine: an engine session that names an agent observes it and is not the engine.
        /// </summary>
        public string AgentId = "";
        /// <summary>Sent in Hello for the server's logs; the token's role is what the server enforces.</summary>
        public WorldlineRole Role = WorldlineRole.Agent;
        /// <summary>Shown in the server's logs.</summary>
        public string ClientVersion = "worldline-unity/0.1.0";

        /// <summary>Reconnect (and resume from the last applied view_seq) when the connection drops.</summary>
        public bool AutoReconnect = true;
        /// <summary>
        /// After a connection that closed before it opened, ask GET /v1/worlds/{WorldId} why (ClientWebSocket hides a
        /// refused upgrade's answer), and stop instead of reconnecting when the answer is final: a world that is gone
        /// (WORLD_NOT_FOUND), a token it refuses. Off: every such close is retried with <see cref="Backoff"/>.
        /// </summary>
        public bool ProbeRefusals = true;
        /// <summary>Delays between reconnect attempts (reset once a welcomed connection has lasted <see cref="MinUptime"/>).</summary>
        public Backoff Backoff = Backoff.Default();
        /// <summary>How long a welcomed connection must stay up before <see cref="Backoff"/> starts again from its first delay.</summary>
        public TimeSpan MinUptime = TimeSpan.FromSeconds(5);
        /// <summary>How often to Ping for clock sync while connected (zero: never).</summary>
        public TimeSpan PingInterval = TimeSpan.FromSeconds(2);
        /// <summary>How long to wait for the WebSocket to open and Welcome to arrive before trying again.</summary>
        public TimeSpan JoinTimeout = TimeSpan.FromSeconds(15);
        /// <summary>Check every view against its context_digest (costly; for debugging).</summary>
        public bool VerifyDigests;
        /// <summary>
        /// Resend intents still waiting for an IntentResult after a reconnect, with the same req_id (the server treats
        /// a reused req_id as an idempotent retry and answers DUPLICATE with the committed global_seq).
        /// </summary>
        public bool ResubmitPendingIntents = true;
        /// <summary>PositionReports larger than this many entities are split (the server refuses client frames over 64 KiB by default).</summary>
        public int MaxEntitiesPerReport = 400;

        /// <summary>Makes the transport for each connection attempt; defaults to <see cref="ClientWebSocketTransport"/>. Set a WebGL transport here.</summary>
        public Func<IWorldlineTransport> TransportFactory;
        /// <summary>Monotonic milliseconds; defaults to a Stopwatch. Tests pass their own.</summary>
        public Func<double> Clock;

        /// <summary>Throws ArgumentException naming the first missing or invalid setting.</summary>
        public void Validate()
        {
            if (ServerUrl == null) throw new ArgumentException("ServerUrl is required (for example ws://127.0.0.1:8080)");
            if (string.IsNullOrEmpty(WorldId)) throw new ArgumentException("WorldId is required");
            if (Token == null) throw new ArgumentException("Token must not be null (use \"\" when the server needs none)");
            if (AgentId == null) throw new ArgumentException("AgentId must not be null");
            if (Backoff == null) throw new ArgumentException("Backoff is required");
            if (MaxEntitiesPerReport < 1) throw new ArgumentException("MaxEntitiesPerReport must be at least 1");
        }

        internal Func<double> ClockOrDefault()
        {
            if (Clock != null) return Clock;
            var sw = Stopwatch.StartNew();
            return () => sw.Elapsed.TotalMilliseconds;
        }

        internal Func<IWorldlineTransport> TransportOrDefault()
        {
            return TransportFactory ?? (() => new ClientWebSocketTransport());
        }
    }
}
