using System;
using System.Collections;
using System.Collections.Generic;

namespace Worldline.Client.Json
{
    /// <summary>The six kinds of JSON value.</summary>
    public enum JsonKind { Null, Boolean, Number, String, Array, Object }

    /// <summary>
    /// A small mutable JSON DOM for views and payloads. Scalars are immutable (and shared); arrays and objects are
    /// mutable containers. Numbers are IEEE doubles, as on the server, so every value the server sends is held exactly.
    /// </summary>
    public abstract class JsonValue : IEquatable<JsonValue>
    {
        internal JsonValue() { }

        /// <summary>What kind of value this is.</summary>
        public abstract JsonKind Kind { get; }

        /// <summary>A copy that shares nothing mutable with this value.</summary>
        public abstract JsonValue DeepClone();

        /// <summary>Structural equality as RFC 6902 "test" defines it (object key order does not matter).</summary>
        public abstract bool DeepEquals(JsonValue other);

        public bool Equals(JsonValue other) { return DeepEquals(other); }
        public override bool Equals(object obj) { return DeepEquals(obj as JsonValue); }
        public override int GetHashCode() { return (int)Kind; }

        /// <summary>Compact JSON text.</summary>
        public override string ToString() { return JsonWriter.Write(this); }

        /// <summary>Parses JSON text (RFC 8259); throws <see cref="JsonParseException"/> on bad input.</summary>
        public static JsonValue Parse(string text) { return JsonParser.Parse(text); }

        public bool IsNull { get { return Kind == JsonKind.Null; } }

        /// <summary>The number, or an <see cref="InvalidOperationException"/> when this is not one.</summary>
        public double AsDouble { get { return Expect<JsonNumber>(JsonKind.Number).Value; } }
        /// <summary>The number as an integer (it must be one, within ±2^53).</summary>
        public long AsLong
        {
            get
            {
                double d = AsDouble;
                if (d != Math.Floor(d) || Math.Abs(d) > 9007199254740991.0) throw new InvalidOperationException("JSON number " + d + " is not a safe integer");
                return (long)d;
            }
        }
        public string AsString { get { return Expect<JsonString>(JsonKind.String).Value; } }
        public bool AsBool { get { return Expect<JsonBool>(JsonKind.Boolean).Value; } }
        public JsonArray AsArray { get { return Expect<JsonArray>(JsonKind.Array); } }
        public JsonObject AsObject { get { return Expect<JsonObject>(JsonKind.Object); } }

        T Expect<T>(JsonKind kind) where T : JsonValue
        {
            var v = this as T;
            if (v == null) throw new InvalidOperationException("expected a JSON " + kind.ToString().ToLowerInvariant() + ", found " + Kind.ToString().ToLowerInvariant());
            return v;
        }

        /// <summary>Member of an object by key, or null when absent or this is not an object.</summary>
        public JsonValue this[string key]
        {
            get
            {
                var o = this as JsonObject;
                JsonValue v;
                return o != null && o.TryGetValue(key, out v) ? v : null;
            }
        }

        public static implicit operator JsonValue(double v) { return new JsonNumber(v); }
        public static implicit operator JsonValue(long v) { return new JsonNumber(v); }
        public static implicit operator JsonValue(int v) { return new JsonNumber(v); }
        public static implicit operator JsonValue(bool v) { return v ? JsonBool.True : JsonBool.False; }
        public static implicit operator JsonValue(string v) { return v == null ? (JsonValue)JsonNull.Instance : new JsonString(v); }
    }

    public sealed class JsonNull : JsonValue
    {
        public static readonly JsonNull Instance = new JsonNull();
        JsonNull() { }
        public override JsonKind Kind { get { return JsonKind.Null; } }
        public override JsonValue DeepClone() { return this; }
        public override bool DeepEquals(JsonValue other) { return other != null && other.Kind == JsonKind.Null; }
    }

    public sealed class JsonBool : JsonValue
    {
        public static readonly JsonBool True = new JsonBool(true);
        public static readonly JsonBool False = new JsonBool(false);
        public readonly bool Value;
        JsonBool(bool value) { Value = value; }
        public override JsonKind Kind { get { return JsonKind.Boolean; } }
        public override JsonValue DeepClone() { return this; }
        public override bool DeepEquals(JsonValue other) { var b = other as JsonBool; return b != null && b.Value == Value; }
    }

    public sealed class JsonNumber : JsonValue
    {
        public readonly double Value;
        public JsonNumber(double value) { Value = value; }
        public override JsonKind Kind { get { return JsonKind.Number; } }
        public override JsonValue DeepClone() { return this; }
        // Numeric equality, as JSON compares numbers (so 0 equals -0, and a NaN from a binary frame equals nothing).
        public override bool DeepEquals(JsonValue other) { var n = other as JsonNumber; return n != null && n.Value == Value; }
        public override int GetHashCode() { return Value.GetHashCode(); }
    }

    public sealed class JsonString : JsonValue
    {
        public readonly string Value;
        public JsonString(string value)
        {
            if (value == null) throw new ArgumentNullException("value");
            Value = value;
        }
        public override JsonKind Kind { get { return JsonKind.String; } }
        public override JsonValue DeepClone() { return this; }
        public override bool DeepEquals(JsonValue other) { var s = other as JsonString; return s != null && string.Equals(s.Value, Value, StringComparison.Ordinal); }
        public override int GetHashCode() { return Value.GetHashCode(); }
    }

    public sealed class JsonArray : JsonValue, IEnumerable<JsonValue>
    {
        readonly List<JsonValue> items;

        public JsonArray() { items = new List<JsonValue>(); }
        public JsonArray(IEnumerable<JsonValue> values) : this() { foreach (var v in values) Add(v); }

        public override JsonKind Kind { get { return JsonKind.Array; } }
        public int Count { get { return items.Count; } }

        public JsonValue this[int index]
        {
            get { return items[index]; }
            set { items[index] = value ?? JsonNull.Instance; }
        }

        public void Add(JsonValue value) { items.Add(value ?? JsonNull.Instance); }
        public void Insert(int index, JsonValue value) { items.Insert(index, value ?? JsonNull.Instance); }
        public void RemoveAt(int index) { items.RemoveAt(index); }

        public override JsonValue DeepClone()
        {
            var copy = new JsonArray();
            copy.items.Capacity = items.Count;
            foreach (var v in items) copy.items.Add(v.DeepClone());
            return copy;
        }

        public override bool DeepEquals(JsonValue other)
        {
            var a = other as JsonArray;
            if (a == null || a.items.Count != items.Count) return false;
            for (int i = 0; i < items.Count; i++) if (!items[i].DeepEquals(a.items[i])) return false;
            return true;
        }

        public IEnumerator<JsonValue> GetEnumerator() { return items.GetEnumerator(); }
        IEnumerator IEnumerable.GetEnumerator() { return GetEnumerator(); }
    }

    /// <summary>A JSON object that keeps its keys in insertion order (so text round-trips read naturally).</summary>
    public sealed class JsonObject : JsonValue, IEnumerable<KeyValuePair<string, JsonValue>>
    {
        readonly Dictionary<string, JsonValue> map = new Dictionary<string, JsonValue>(StringComparer.Ordinal);
        readonly List<string> order = new List<string>();

        public override JsonKind Kind { get { return JsonKind.Object; } }
        public int Count { get { return map.Count; } }
        public IEnumerable<string> Keys { get { return order; } }

        /// <summary>Gets a member (null when absent) or sets one (adding it at the end when new).</summary>
        public new JsonValue this[string key]
        {
            get { JsonValue v; return map.TryGetValue(key, out v) ? v : null; }
            set { Set(key, value); }
        }

        public bool ContainsKey(string key) { return map.ContainsKey(key); }
        public bool TryGetValue(string key, out JsonValue value) { return map.TryGetValue(key, out value); }

        public void Set(string key, JsonValue value)
        {
            if (key == null) throw new ArgumentNullException("key");
            if (!map.ContainsKey(key)) order.Add(key);
            map[key] = value ?? JsonNull.Instance;
        }

        public bool Remove(string key)
        {
            if (!map.Remove(key)) return false;
            order.Remove(key);
            return true;
        }

        // For JSON Patch rollback: remove a member remembering where it was, and put it back there.
        internal bool Remove(string key, out JsonValue old, out int position)
        {
            position = -1;
            if (!map.TryGetValue(key, out old)) return false;
            map.Remove(key);
            position = order.IndexOf(key);
            order.RemoveAt(position);
            return true;
        }

        internal void Insert(int position, string key, JsonValue value)
        {
            if (map.ContainsKey(key)) throw new InvalidOperationException("key already present: " + key);
            map[key] = value;
            order.Insert(Math.Min(position, order.Count), key);
        }

        public override JsonValue DeepClone()
        {
            var copy = new JsonObject();
            foreach (var k in order) copy.Set(k, map[k].DeepClone());
            return copy;
        }

        public override bool DeepEquals(JsonValue other)
        {
            var o = other as JsonObject;
            if (o == null || o.map.Count != map.Count) return false;
            foreach (var kv in map)
            {
                JsonValue v;
                if (!o.map.TryGetValue(kv.Key, out v) || !kv.Value.DeepEquals(v)) return false;
            }
            return true;
        }

        public IEnumerator<KeyValuePair<string, JsonValue>> GetEnumerator()
        {
            foreach (var k in order) yield return new KeyValuePair<string, JsonValue>(k, map[k]);
        }
        IEnumerator IEnumerable.GetEnumerator() { return GetEnumerator(); }
    }
}
