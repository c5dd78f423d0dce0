using System;
using System.Collections.Generic;
using System.Security.Cryptography;
using System.Text;
using Worldline.Client.Json;

namespace Worldline.Client
{
    /// <summary>What happened to a delta offered to a view.</summary>
    public enum DeltaOutcome
    {
        /// <summary>It started at the view's view_seq and was applied.</summary>
        Applied,
        /// <summary>The view already has it (view_seq not newer): ignored.</summary>
        Duplicate,
        /// <summary>It starts after the view's view_seq, so a delta was missed: resume from <see cref="AgentView.ViewSeq"/>.</summary>
        Gap,
    }

    /// <summary>The view no longer matches the server's context_digest: drop it and take a fresh snapshot.</summary>
    public sealed class ViewDigestMismatchException : Exception
    {
        public readonly long ViewSeq;
        public ViewDigestMismatchException(long viewSeq, string expected, string actual)
            : base("view " + viewSeq + " hashes to " + actual + " but the server sent " + expected + "; the view was dropped, take a fresh snapshot")
        {
            ViewSeq = viewSeq;
        }
    }

    /// <summary>
    /// An agent's view as the client holds it: {"entities": {id: record}} numbered by view_seq. A delta applies only
    /// when its from_seq is the view's view_seq; it applies entirely or not at all, so after any failure the view is
    /// still the one at <see cref="ViewSeq"/> and a reconnect can resume from there.
    /// </summary>
    public sealed class AgentView
    {
        /// <summary>The whole view document (an object with "entities"), or JSON null before the first snapshot.</summary>
        public JsonValue Document { get; private set; }

        /// <summary>The view_seq of <see cref="Document"/>; -1 before the first snapshot.</summary>
        public long ViewSeq { get; private set; }

        /// <summary>The last context_digest the server sent (32 bytes, or empty when it sent none).</summary>
        public byte[] ContextDigest { get; private set; }

        /// <summary>
        /// The world incarnation (Welcome.incarnation) the view_seq belongs to, "" when not known: sent back in
        /// Hello.resume, so a world deleted with purge and created again under its id answers a snapshot. Kept across
        /// reconnects (the view is), forgotten with the view.
        /// </summary>
        public string Incarnation
        {
            get { return incarnation; }
            set { incarnation = value ?? ""; }
        }
        string incarnation = "";

        /// <summary>
        /// Check each snapshot and delta against its context_digest (the set digest of the view, see Digest). Costs a
        /// canonical serialisation of the whole view per delta: for debugging and tests, off by default.
        /// </summary>
        public bool VerifyDigests { get; set; }

        public AgentView()
        {
            Clear();
        }

        /// <summary>The visible entities by id (empty when there is no view yet).</summary>
        public JsonObject Entities
        {
            get
            {
                var e = Document["entities"] as JsonObject;
                return e ?? new JsonObject();
            }
        }

        /// <summary>One entity's record, or null when it is not in view.</summary>
        public JsonObject Entity(string id)
        {
            var e = Document["entities"] as JsonObject;
            return e == null ? null : e[id] as JsonObject;
        }

        /// <summary>Forgets the view (the next connection then asks for a snapshot, not a resume).</summary>
        public void Clear()
        {
            Document = JsonNull.Instance;
            ViewSeq = -1;
            ContextDigest = new byte[0];
            Incarnation = "";
        }

        /// <summary>Replaces the view with a snapshot (from Welcome or a Snapshot frame).</summary>
        public void ApplySnapshot(long viewSeq, JsonValue view, byte[] contextDigest)
        {
            if (view == null) throw new ArgumentNullException("view");
            if (VerifyDigests) Verify(viewSeq, view, contextDigest);
            Document = view;
            ViewSeq = viewSeq;
            ContextDigest = contextDigest ?? new byte[0];
        }

        /// <summary>
        /// Applies a delta taking the view from <paramref name="fromSeq"/> to <paramref name="viewSeq"/>. Throws
        /// <see cref="JsonPatchException"/> (view unchanged) when an op does not apply, and
        /// <see cref="ViewDigestMismatchException"/> (view cleared) when <see cref="VerifyDigests"/> finds a mismatch.
        /// The ops' values become part of the view: pass freshly decoded ops.
        /// </summary>
        public DeltaOutcome ApplyDelta(long fromSeq, long viewSeq, IList<PatchOperation> ops, byte[] contextDigest)
        {
            if (viewSeq <= ViewSeq) return DeltaOutcome.Duplicate;
            if (fromSeq != ViewSeq || ViewSeq < 0) return DeltaOutcome.Gap;
            JsonValue next = JsonPatch.Apply(Document, ops, false);
            if (VerifyDigests)
            {
                try { Verify(viewSeq, next, contextDigest); }
                catch (ViewDigestMismatchException) { Clear(); throw; }
            }
            Document = next;
            ViewSeq = viewSeq;
            ContextDigest = contextDigest ?? new byte[0];
            return DeltaOutcome.Applied;
        }

        static void Verify(long viewSeq, JsonValue view, byte[] expected)
        {
            if (expected == null || expected.Length == 0) return;
            byte[] actual = Digest(view);
            if (!SameBytes(actual, expected)) throw new ViewDigestMismatchException(viewSeq, Hex(expected), Hex(actual));
        }

        /// <summary>
        /// The context_digest of a view, as the server computes it (docs/core.md): a set digest, the sum modulo 2^256 of
        /// SHA-256("&lt;id as a JSON string&gt;:&lt;RFC 8785 canonical JSON of the record&gt;") over the view's entities, each
        /// digest read as a big-endian integer; 32 bytes, big-endian.
        /// </summary>
        public static byte[] Digest(JsonValue view)
        {
            var sum = new byte[32];
            var entities = view == null ? null : view["entities"] as JsonObject;
            if (entities == null) return sum;
            using (var sha = SHA256.Create())
            {
                foreach (var kv in entities)
                {
                    string member = JsonWriter.WriteCanonical(new JsonString(kv.Key)) + ":" + JsonWriter.WriteCanonical(kv.Value);
                    byte[] h = sha.ComputeHash(Encoding.UTF8.GetBytes(member));
                    int carry = 0;
                    for (int i = 31; i >= 0; i--)
                    {
                        int t = sum[i] + h[i] + carry;
                        sum[i] = (byte)t;
                        carry = t >> 8;
                    }
                }
            }
            return sum;
        }

        /// <summary>Lowercase hex, as context_digest reads in the JSON subprotocol.</summary>
        public static string Hex(byte[] bytes)
        {
            var sb = new StringBuilder(bytes.Length * 2);
            foreach (byte b in bytes) sb.Append(b.ToString("x2"));
            return sb.ToString();
        }

        static bool SameBytes(byte[] a, byte[] b)
        {
            if (a.Length != b.Length) return false;
            for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) return false;
            return true;
        }
    }
}
