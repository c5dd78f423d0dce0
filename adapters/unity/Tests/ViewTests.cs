using System;
using System.Collections.Generic;
using Worldline.Client.Json;

namespace Worldline.Client.Tests
{
    static class ViewTests
    {
        static List<PatchOperation> Ops(params PatchOperation[] ops) { return new List<PatchOperation>(ops); }

        public static void Run(T t)
        {
            var v = new AgentView();
            t.Equal(-1L, v.ViewSeq, "no view before the first snapshot");
            t.Equal(0, v.Entities.Count, "no entities before the first snapshot");
            t.Equal(DeltaOutcome.Gap, v.ApplyDelta(-1, 0, Ops(), null), "a delta before any snapshot is a gap");

            v.ApplySnapshot(10, JsonValue.Parse("{\"entities\":{\"a\":{\"x\":1}}}"), null);
            t.Equal(DeltaOutcome.Applied, v.ApplyDelta(10, 11, Ops(PatchOperation.Replace("/entities/a/x", 2)), null), "a delta from the current view_seq applies");
            t.Equal(11L, v.ViewSeq, "view_seq advances");
            t.Equal(2.0, v.Entity("a")["x"].AsDouble, "the op took effect");
            t.Equal(DeltaOutcome.Duplicate, v.ApplyDelta(10, 11, Ops(PatchOperation.Replace("/entities/a/x", 99)), null), "the same delta again is a duplicate");
            t.Equal(2.0, v.Entity("a")["x"].AsDouble, "a duplicate changes nothing");
            t.Equal(DeltaOutcome.Gap, v.ApplyDelta(12, 13, Ops(), null), "a delta from a later view_seq is a gap");
            t.Equal(11L, v.ViewSeq, "a gap changes nothing");

            // A delta that does not apply leaves the view at its view_seq, ready to resume.
            t.Throws<JsonPatchException>(() => v.ApplyDelta(11, 12, Ops(PatchOperation.Replace("/entities/a/x", 3), PatchOperation.Remove("/entities/nope")), null), "a delta with a bad op");
            t.Equal(11L, v.ViewSeq, "view_seq stays after a bad delta");
            t.Equal(2.0, v.Entity("a")["x"].AsDouble, "the good op before the bad one was undone");

            // Digest checks, with digests of the real views.
            var checkedView = new AgentView { VerifyDigests = true };
            var start = JsonValue.Parse("{\"entities\":{\"a\":{\"x\":1}}}");
            var after = JsonValue.Parse("{\"entities\":{\"a\":{\"x\":2}}}");
            checkedView.ApplySnapshot(1, start, AgentView.Digest(start));
            t.Equal(DeltaOutcome.Applied, checkedView.ApplyDelta(1, 2, Ops(PatchOperation.Replace("/entities/a/x", 2)), AgentView.Digest(after)), "a delta whose digest matches");
            t.Throws<ViewDigestMismatchException>(() => checkedView.ApplyDelta(2, 3, Ops(PatchOperation.Replace("/entities/a/x", 3)), AgentView.Digest(after)), "a delta whose digest does not match");
            t.Equal(-1L, checkedView.ViewSeq, "a digest mismatch drops the view (the next connect takes a snapshot)");
            t.Throws<ViewDigestMismatchException>(() => checkedView.ApplySnapshot(5, start, AgentView.Digest(after)), "a snapshot whose digest does not match");
            t.Equal(DeltaOutcome.Applied, ApplyEmpty(checkedView, start), "an empty digest is not checked");

            // The incarnation the view_seq belongs to outlives a connection (the client's Welcome does not: it is cleared
            // when the next attempt starts, before its Hello) and goes with the view.
            var held = new AgentView();
            t.Equal("", held.Incarnation, "no incarnation before a Welcome named one");
            held.ApplySnapshot(3, start.DeepClone(), null);
            held.Incarnation = "5bed44c3-a50d-4c74-987b-21adc44afbbd";
            held.ApplyDelta(3, 4, Ops(PatchOperation.Replace("/entities/a/x", 2)), null);
            t.Equal("5bed44c3-a50d-4c74-987b-21adc44afbbd", held.Incarnation, "deltas keep the incarnation, for the resume");
            held.Clear();
            t.Equal("", held.Incarnation, "a forgotten view forgets its incarnation");
            checkedView.ApplySnapshot(1, start.DeepClone(), AgentView.Digest(start));
            checkedView.Incarnation = "i-1";
            t.Throws<ViewDigestMismatchException>(() => checkedView.ApplyDelta(1, 2, Ops(), AgentView.Digest(after)), "a digest mismatch");
            t.Equal("", checkedView.Incarnation, "a view dropped on a digest mismatch has no incarnation either");
        }

        static DeltaOutcome ApplyEmpty(AgentView v, JsonValue start)
        {
            v.ApplySnapshot(7, start.DeepClone(), new byte[0]);
            return v.ApplyDelta(7, 8, Ops(), new byte[0]);
        }
    }
}
