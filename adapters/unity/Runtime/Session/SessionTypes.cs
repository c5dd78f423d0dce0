using System;
using System.Collections.Generic;
using Worldline.Client.Json;

namespace Worldline.Client
{
    /// <summary>The role a connection acts in. The token decides: the server takes the role from it, not from Hello.</summary>
    public enum WorldlineRole { Unspecified = 0, Agent = 1, Engine = 2, Viewer = 3, Admin = 4 }

    /// <summary>Where the token travels.</summary>
    public enum TokenPlacement
    {
        /// <summary>In the Hello frame (default; keeps it out of URLs and access logs).</summary>
        Hello,
        /// <summary>In the `token` query parameter: required on WebGL, where browsers cannot set headers.</summary>
        QueryString,
    }

    /// <summary>Where a client is in its life.</summary>
    public enum ConnectionState
    {
        /// <summary>Not connected and not trying (before Connect, or after Disconnect).</summary>
        Disconnected,
        /// <summary>Opening the WebSocket.</summary>
        Connecting,
        /// <summary>Hello sent, waiting for Welcome.</summary>
        Joining,
        /// <summary>Welcome received: the view streams and frames can be sent.</summary>
        Ready,
        /// <summary>The connection dropped; a reconnect is scheduled.</summary>
        WaitingToReconnect,
        /// <summary>The server refused this client for good (bad token, unknown agent, quarantine, version): see LastError.</summary>
        Stopped,
    }

    /// <summary>The recovery hint of an error; the numbers are the proto Recovery enum's.</summary>
    public enum RecoveryHint { Unspecified = 0, Retry = 1, RetryWithDelay = 2, Regenerate = 3, ModifyIntent = 4, Defer = 5, ShedOldest = 6, Abort = 7 }

    /// <summary>An error from the server (an Error frame, or an IntentResult's error), with details parsed.</summary>
    public sealed class ServerError
    {
        /// <summary>The catalogue number (docs/errors.md), e.g. 5001.</summary>
        public readonly int Code;
        /// <summary>The catalogue name, e.g. "UNAUTHORIZED"; present even when this client's enum is older.</summary>
        public readonly string Name;
        public readonly string Message;
        public readonly RecoveryHint Recovery;
        /// <summary>Structured details (an empty object when none).</summary>
        public readonly JsonObject Details;

        public ServerError(int code, string name, string message, RecoveryHint recovery, JsonObject details)
        {
            Code = code;
            Name = name ?? "";
            Message = message ?? "";
            Recovery = recovery;
            Details = details ?? new JsonObject();
        }

        /// <summary>details.retry_after_ms when the server gave one (QUOTA_EXCEEDED), else zero.</summary>
        public TimeSpan RetryAfter
        {
            get
            {
                var v = Details["retry_after_ms"];
                return v != null && v.Kind == JsonKind.Number && v.AsDouble > 0 ? TimeSpan.FromMilliseconds(v.AsDouble) : TimeSpan.Zero;
            }
        }

        public override string ToString() { return Name + " (" + Code + "): " + Message; }
    }

    /// <summary>What changed in the view: a snapshot (whole view) or a delta (ops).</summary>
    public sealed class ViewChange
    {
        public readonly bool IsSnapshot;
        /// <summary>For a delta, the view_seq it applied to; for a snapshot, the view_seq held before (-1 at first).</summary>
        public readonly long FromSeq;
        public readonly long ViewSeq;
        /// <summary>The ops applied (empty for a snapshot).</summary>
        public readonly IList<PatchOperation> Ops;
        /// <summary>The last effect the delta includes (0 for snapshots).</summary>
        public readonly long GlobalSeq;
        /// <summary>The world's sim_time at that point (engine ticks, or ms on wall time; 0 for snapshots).</summary>
        public readonly long SimTime;
        /// <summary>The view after the change.</summary>
        public readonly AgentView View;

        public ViewChange(bool isSnapshot, long fromSeq, long viewSeq, IList<PatchOperation> ops, long globalSeq, long simTime, AgentView view)
        {
            IsSnapshot = isSnapshot;
            FromSeq = fromSeq;
            ViewSeq = viewSeq;
            Ops = ops ?? new PatchOperation[0];
            GlobalSeq = globalSeq;
            SimTime = simTime;
            View = view;
        }
    }

    /// <summary>What to do after a connection ended.</summary>
    public enum ReconnectDecision
    {
        /// <summary>Try again after a backoff delay, resuming from the view_seq held.</summary>
        Retry,
        /// <summary>Do not retry: the same Hello would be refused again (see the error).</summary>
        Stop,
    }

    /// <summary>What a Welcome means for the view the client holds.</summary>
    public enum WelcomeAction
    {
        /// <summary>The Welcome carries a snapshot: the view becomes it.</summary>
        ApplySnapshot,
        /// <summary>A resume: the deltas that follow start from the view held.</summary>
        ResumeDeltas,
        /// <summary>The session streams no view (the engine, joined without an agent): ready, with no view.</summary>
        NoView,
        /// <summary>A resume from a view_seq other than the one held: the view cannot be trusted; take a fresh snapshot.</summary>
        Resync,
    }

    /// <summary>The reconnect rules, apart from the socket code so they can be tested alone.</summary>
    public static class ReconnectPolicy
    {
        /// <summary>The protocol's major version this client speaks.</summary>
        public const string SchemaVersion = "1.0.0";

        /// <summary>
        /// Decides after a close. <paramref name="joinError"/> is the Error the server sent in answer to Hello (null
        /// when none): ABORT-class errors there (UNAUTHORIZED, FORBIDDEN, INVALID_AGENT_ID, AGENT_QUARANTINED,
        /// SCHEMA_VERSION_MISMATCH, ...) would repeat on every retry. Close code 1008 (policy) is how the server ends a
        /// connection it will not serve; 1002 and 1003 mean the peers cannot talk. Everything else (1000, 1001, 1006
        /// network loss, 1009, 1011, 1013 try again) is retried.
        /// </summary>
        public static ReconnectDecision AfterClose(int closeCode, ServerError joinError)
        {
            if (joinError != null && joinError.Recovery == RecoveryHint.Abort) return ReconnectDecision.Stop;
            if (closeCode == 1008 || closeCode == 1002 || closeCode == 1003) return ReconnectDecision.Stop;
            return ReconnectDecision.Retry;
        }

        /// <summary>
        /// Decides what a Welcome does to the view held at <paramref name="heldViewSeq"/> (-1: none). An engine that
        /// joined without an agent drives the world and is sent no view: its Welcome names no agent, has no snapshot and
        /// says view_seq 0, which is not a resume (there is nothing to resume), so it must not be taken for a bad one.
        /// </summary>
        public static WelcomeAction OnWelcome(bool hasSnapshot, long welcomeViewSeq, string agent, long heldViewSeq)
        {
            if (hasSnapshot) return WelcomeAction.ApplySnapshot;
            if (string.IsNullOrEmpty(agent)) return WelcomeAction.NoView;
            return welcomeViewSeq == heldViewSeq ? WelcomeAction.ResumeDeltas : WelcomeAction.Resync;
        }

        /// <summary>The shortest wait the server asked for (retry_after_ms), or zero.</summary>
        public static TimeSpan Hint(ServerError error)
        {
            return error == null ? TimeSpan.Zero : error.RetryAfter;
        }
    }
}
