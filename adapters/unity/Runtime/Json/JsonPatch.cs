using System;
using System.Collections.Generic;

namespace Worldline.Client.Json
{
    /// <summary>Why a patch did not apply.</summary>
    public enum JsonPatchError
    {
        /// <summary>An operation object is malformed (unknown op, missing path, from or value).</summary>
        InvalidOperation,
        /// <summary>A pointer is not RFC 6901 syntax.</summary>
        InvalidPointer,
        /// <summary>The target (or "from", or a parent on the way) does not exist.</summary>
        PathNotFound,
        /// <summary>An array index is not a number, out of range, or "-" where it cannot be.</summary>
        InvalidIndex,
        /// <summary>A move into its own descendant.</summary>
        InvalidMove,
        /// <summary>A test operation's value differs.</summary>
        TestFailed,
    }

    public sealed class JsonPatchException : Exception
    {
        public readonly JsonPatchError Error;
        /// <summary>Index of the failing operation in the patch (-1 when not known).</summary>
        public readonly int OperationIndex;

        public JsonPatchException(JsonPatchError error, string message) : this(error, message, -1) { }
        public JsonPatchException(JsonPatchError error, string message, int operationIndex)
            : base(operationIndex >= 0 ? "operation " + operationIndex + ": " + message : message)
        {
            Error = error;
            OperationIndex = operationIndex;
        }
    }

    /// <summary>
    /// Applies RFC 6902 patches in place, all or nothing: when an operation fails, the ones before it are undone
    /// and the document is exactly as it was, so a client can still resume from the view_seq it holds.
    /// </summary>
    public static class JsonPatch
    {
        /// <summary>
        /// Applies <paramref name="ops"/> to <paramref name="document"/> and returns the new root (a different object
        /// only when an operation replaces the whole document, path ""). Throws <see cref="JsonPatchException"/>, with
        /// the document unchanged, when any operation fails. With <paramref name="cloneValues"/> false the operations'
        /// values become part of the document (pass false only for operations used once, such as freshly decoded ones).
        /// </summary>
        public static JsonValue Apply(JsonValue document, IList<PatchOperation> ops, bool cloneValues = true)
        {
            var run = new Run(document, cloneValues);
            for (int i = 0; i < ops.Count; i++)
            {
                try
                {
                    run.Apply(ops[i]);
                }
                catch (JsonPatchException e)
                {
                    run.Rollback();
                    throw new JsonPatchException(e.Error, e.Message, i);
                }
                catch
                {
                    run.Rollback();
                    throw;
                }
            }
            return run.Root;
        }

        enum UndoKind { SetRoot, SetMember, RemoveMember, InsertMember, RemoveItem, InsertItem, SetItem }

        struct Undo
        {
            public UndoKind Kind;
            public JsonValue Container;
            public string Key;
            public int Index;
            public JsonValue Value;
        }

        sealed class Run
        {
            public JsonValue Root;
            readonly bool clone;
            readonly List<Undo> undo = new List<Undo>();

            public Run(JsonValue root, bool cloneValues)
            {
                Root = root ?? JsonNull.Instance;
                clone = cloneValues;
            }

            public void Apply(PatchOperation op)
            {
                if (op == null) throw new JsonPatchException(JsonPatchError.InvalidOperation, "null operation");
                string[] path = JsonPointer.Parse(op.Path);
                switch (op.Op)
                {
                    case PatchOp.Add: Add(path, op.Path, Value(op)); break;
                    case PatchOp.Remove: Remove(path, op.Path); break;
                    case PatchOp.Replace: Replace(path, op.Path, Value(op)); break;
                    case PatchOp.Move:
                        {
                            string[] from = JsonPointer.Parse(op.From);
                            if (Lookup(from) == null) throw NotFound("from", op.From);
                            if (SameTokens(from, path)) break; // moving a value onto itself changes nothing
                            if (IsPrefix(from, path)) throw new JsonPatchException(JsonPatchError.InvalidMove, "cannot move \"" + op.From + "\" into its own child \"" + op.Path + "\"");
                            JsonValue v = Remove(from, op.From);
                            Add(path, op.Path, v);
                            break;
                        }
                    case PatchOp.Copy:
                        {
                            JsonValue v = Lookup(JsonPointer.Parse(op.From));
                            if (v == null) throw NotFound("from", op.From);
                            Add(path, op.Path, v.DeepClone());
                            break;
                        }
                    case PatchOp.Test:
                        {
                            JsonValue v = Lookup(path);
                            if (v == null) throw NotFound("path", op.Path);
                            if (!v.DeepEquals(op.Value)) throw new JsonPatchException(JsonPatchError.TestFailed, "test failed at \"" + op.Path + "\": found " + JsonWriter.Write(v) + ", expected " + JsonWriter.Write(op.Value));
                            break;
                        }
                    default: throw new JsonPatchException(JsonPatchError.InvalidOperation, "unknown op " + (int)op.Op);
                }
            }

            JsonValue Value(PatchOperation op) { return clone ? op.Value.DeepClone() : op.Value; }

            public void Rollback()
            {
                for (int i = undo.Count - 1; i >= 0; i--)
                {
                    Undo u = undo[i];
                    switch (u.Kind)
                    {
                        case UndoKind.SetRoot: Root = u.Value; break;
                        case UndoKind.SetMember: ((JsonObject)u.Container).Set(u.Key, u.Value); break;
                        case UndoKind.RemoveMember: ((JsonObject)u.Container).Remove(u.Key); break;
                        case UndoKind.InsertMember: ((JsonObject)u.Container).Insert(u.Index, u.Key, u.Value); break;
                        case UndoKind.RemoveItem: ((JsonArray)u.Container).RemoveAt(u.Index); break;
                        case UndoKind.InsertItem: ((JsonArray)u.Container).Insert(u.Index, u.Value); break;
                        case UndoKind.SetItem: ((JsonArray)u.Container)[u.Index] = u.Value; break;
                    }
                }
                undo.Clear();
            }

            void Record(UndoKind kind, JsonValue container, string key, int index, JsonValue value)
            {
                undo.Add(new Undo { Kind = kind, Container = container, Key = key, Index = index, Value = value });
            }

            static JsonPatchException NotFound(string what, string pointer)
            {
                return new JsonPatchException(JsonPatchError.PathNotFound, what + " \"" + pointer + "\" does not exist");
            }

            JsonValue Lookup(string[] tokens)
            {
                JsonValue current = Root;
                foreach (var t in tokens)
                {
                    current = Child(current, t);
                    if (current == null) return null;
                }
                return current;
            }

            static JsonValue Child(JsonValue container, string token)
            {
                if (container.Kind == JsonKind.Object) return ((JsonObject)container)[token];
                if (container.Kind == JsonKind.Array)
                {
                    var a = (JsonArray)container;
                    int index;
                    return JsonPointer.TryArrayIndex(token, out index) && index < a.Count ? a[index] : null;
                }
                return null;
            }

            // The container that holds the last token; it must exist and be an object or an array.
            JsonValue Parent(string[] tokens, string pointer)
            {
                JsonValue current = Root;
                for (int i = 0; i < tokens.Length - 1; i++)
                {
                    current = Child(current, tokens[i]);
                    if (current == null) throw NotFound("the parent of", pointer);
                }
                if (current.Kind != JsonKind.Object && current.Kind != JsonKind.Array) throw NotFound("the parent of", pointer);
                return current;
            }

            static int ExistingIndex(JsonArray a, string token, string pointer)
            {
                int index;
                if (!JsonPointer.TryArrayIndex(token, out index)) throw new JsonPatchException(JsonPatchError.InvalidIndex, "\"" + token + "\" is not an array index in \"" + pointer + "\"");
                if (index >= a.Count) throw new JsonPatchException(JsonPatchError.InvalidIndex, "index " + index + " is past the end of the array (length " + a.Count + ") in \"" + pointer + "\"");
                return index;
            }

            void Add(string[] tokens, string pointer, JsonValue value)
            {
                if (tokens.Length == 0)
                {
                    Record(UndoKind.SetRoot, null, null, 0, Root);
                    Root = value;
                    return;
                }
                JsonValue parent = Parent(tokens, pointer);
                string key = tokens[tokens.Length - 1];
                if (parent.Kind == JsonKind.Object)
                {
                    var o = (JsonObject)parent;
                    JsonValue old;
                    if (o.TryGetValue(key, out old)) Record(UndoKind.SetMember, o, key, 0, old);
                    else Record(UndoKind.RemoveMember, o, key, 0, null);
                    o.Set(key, value);
                    return;
                }
                var a = (JsonArray)parent;
                int index;
                if (key == "-") index = a.Count;
                else if (!JsonPointer.TryArrayIndex(key, out index)) throw new JsonPatchException(JsonPatchError.InvalidIndex, "\"" + key + "\" is not an array index in \"" + pointer + "\"");
                else if (index > a.Count) throw new JsonPatchException(JsonPatchError.InvalidIndex, "index " + index + " is past the end of the array (length " + a.Count + ") in \"" + pointer + "\"");
                a.Insert(index, value);
                Record(UndoKind.RemoveItem, a, null, index, null);
            }

            JsonValue Remove(string[] tokens, string pointer)
            {
                if (tokens.Length == 0)
                {
                    // Removing the whole document leaves nothing: null, which a view reader treats as empty.
                    JsonValue was = Root;
                    Record(UndoKind.SetRoot, null, null, 0, Root);
                    Root = JsonNull.Instance;
                    return was;
                }
                JsonValue parent = Parent(tokens, pointer);
                string key = tokens[tokens.Length - 1];
                if (parent.Kind == JsonKind.Object)
                {
                    JsonValue old;
                    int position;
                    if (!((JsonObject)parent).Remove(key, out old, out position)) throw NotFound("path", pointer);
                    Record(UndoKind.InsertMember, parent, key, position, old);
                    return old;
                }
                var a = (JsonArray)parent;
                int index = ExistingIndex(a, key, pointer);
                JsonValue item = a[index];
                a.RemoveAt(index);
                Record(UndoKind.InsertItem, a, null, index, item);
                return item;
            }

            void Replace(string[] tokens, string pointer, JsonValue value)
            {
                if (tokens.Length == 0)
                {
                    Record(UndoKind.SetRoot, null, null, 0, Root);
                    Root = value;
                    return;
                }
                JsonValue parent = Parent(tokens, pointer);
                string key = tokens[tokens.Length - 1];
                if (parent.Kind == JsonKind.Object)
                {
                    var o = (JsonObject)parent;
                    JsonValue old;
                    if (!o.TryGetValue(key, out old)) throw NotFound("path", pointer);
                    Record(UndoKind.SetMember, o, key, 0, old);
                    o.Set(key, value);
                    return;
                }
                var a = (JsonArray)parent;
                int index = ExistingIndex(a, key, pointer);
                Record(UndoKind.SetItem, a, null, index, a[index]);
                a[index] = value;
            }

            static bool SameTokens(string[] a, string[] b)
            {
                if (a.Length != b.Length) return false;
                for (int i = 0; i < a.Length; i++) if (!string.Equals(a[i], b[i], StringComparison.Ordinal)) return false;
                return true;
            }

            static bool IsPrefix(string[] prefix, string[] path)
            {
                if (prefix.Length >= path.Length) return false;
                for (int i = 0; i < prefix.Length; i++) if (!string.Equals(prefix[i], path[i], StringComparison.Ordinal)) return false;
                return true;
            }
        }
    }
}
