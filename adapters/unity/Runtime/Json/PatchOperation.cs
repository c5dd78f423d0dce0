using System;

namespace Worldline.Client.Json
{
    /// <summary>The RFC 6902 operations. The numbers are the compact op stream's op codes.</summary>
    public enum PatchOp { Add = 1, Remove = 2, Replace = 3, Move = 4, Copy = 5, Test = 6 }

    /// <summary>One RFC 6902 operation: op, path, from (move, copy) and value (add, replace, test).</summary>
    public sealed class PatchOperation
    {
        public readonly PatchOp Op;
        public readonly string Path;
        /// <summary>Source pointer for move and copy; null otherwise.</summary>
        public readonly string From;
        /// <summary>The value for add, replace and test; null otherwise.</summary>
        public readonly JsonValue Value;

        public PatchOperation(PatchOp op, string path, string from, JsonValue value)
        {
            if (path == null) throw new ArgumentNullException("path");
            bool needsFrom = op == PatchOp.Move || op == PatchOp.Copy;
            bool needsValue = op == PatchOp.Add || op == PatchOp.Replace || op == PatchOp.Test;
            if (needsFrom && from == null) throw new JsonPatchException(JsonPatchError.InvalidOperation, Name(op) + " needs \"from\"");
            if (needsValue && value == null) throw new JsonPatchException(JsonPatchError.InvalidOperation, Name(op) + " needs \"value\"");
            Op = op;
            Path = path;
            From = needsFrom ? from : null;
            Value = needsValue ? value : null;
        }

        public static PatchOperation Add(string path, JsonValue value) { return new PatchOperation(PatchOp.Add, path, null, value); }
        public static PatchOperation Remove(string path) { return new PatchOperation(PatchOp.Remove, path, null, null); }
        public static PatchOperation Replace(string path, JsonValue value) { return new PatchOperation(PatchOp.Replace, path, null, value); }
        public static PatchOperation Move(string from, string path) { return new PatchOperation(PatchOp.Move, path, from, null); }
        public static PatchOperation Copy(string from, string path) { return new PatchOperation(PatchOp.Copy, path, from, null); }
        public static PatchOperation Test(string path, JsonValue value) { return new PatchOperation(PatchOp.Test, path, null, value); }

        /// <summary>The op's name as RFC 6902 spells it ("add", "remove", ...).</summary>
        public static string Name(PatchOp op)
        {
            switch (op)
            {
                case PatchOp.Add: return "add";
                case PatchOp.Remove: return "remove";
                case PatchOp.Replace: return "replace";
                case PatchOp.Move: return "move";
                case PatchOp.Copy: return "copy";
                case PatchOp.Test: return "test";
                default: return "op" + (int)op;
            }
        }

        /// <summary>Reads an operation object such as {"op": "add", "path": "/a", "value": 1}.</summary>
        public static PatchOperation FromJson(JsonValue json)
        {
            var o = json as JsonObject;
            if (o == null) throw new JsonPatchException(JsonPatchError.InvalidOperation, "an operation is a JSON object");
            string name = StringMember(o, "op");
            string path = StringMember(o, "path");
            if (name == null || path == null) throw new JsonPatchException(JsonPatchError.InvalidOperation, "an operation needs string \"op\" and \"path\"");
            PatchOp op;
            switch (name)
            {
                case "add": op = PatchOp.Add; break;
                case "remove": op = PatchOp.Remove; break;
                case "replace": op = PatchOp.Replace; break;
                case "move": op = PatchOp.Move; break;
                case "copy": op = PatchOp.Copy; break;
                case "test": op = PatchOp.Test; break;
                default: throw new JsonPatchException(JsonPatchError.InvalidOperation, "unknown op \"" + name + "\"");
            }
            // A present "value": null is the JSON null value, not a missing value.
            return new PatchOperation(op, path, StringMember(o, "from"), o["value"]);
        }

        static string StringMember(JsonObject o, string key)
        {
            var v = o[key];
            return v != null && v.Kind == JsonKind.String ? v.AsString : null;
        }

        /// <summary>The operation as an RFC 6902 JSON object.</summary>
        public JsonObject ToJson()
        {
            var o = new JsonObject();
            o["op"] = Name(Op);
            if (From != null) o["from"] = From;
            o["path"] = Path;
            if (Value != null) o["value"] = Value;
            return o;
        }

        public override string ToString() { return JsonWriter.Write(ToJson()); }
    }
}
