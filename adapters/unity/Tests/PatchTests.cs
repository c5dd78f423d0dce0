using System;
using System.Collections.Generic;
using Worldline.Client.Json;

namespace Worldline.Client.Tests
{
    static class PatchTests
    {
        // {doc, patch, expected result or null when the patch must fail, failure kind, name}. RFC 6902 Appendix A
        // first, then the cases clients get wrong.
        static readonly object[][] Cases =
        {
            new object[] { "{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]", "{\"baz\":\"qux\",\"foo\":\"bar\"}", null, "A.1 add an object member" },
            new object[] { "{\"foo\":[\"bar\",\"baz\"]}", "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]", "{\"foo\":[\"bar\",\"qux\",\"baz\"]}", null, "A.2 add an array element" },
            new object[] { "{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]", "{\"foo\":\"bar\"}", null, "A.3 remove an object member" },
            new object[] { "{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]", "{\"foo\":[\"bar\",\"baz\"]}", null, "A.4 remove an array element" },
            new object[] { "{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]", "{\"baz\":\"boo\",\"foo\":\"bar\"}", null, "A.5 replace a value" },
            new object[] { "{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}", "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]", "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}", null, "A.6 move a value" },
            new object[] { "{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}", "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]", "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}", null, "A.7 move an array element" },
            new object[] { "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]", "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}", null, "A.8 test a value (success)" },
            new object[] { "{\"baz\":\"qux\"}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]", null, JsonPatchError.TestFailed, "A.9 test a value (error)" },
            new object[] { "{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]", "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}", null, "A.10 add a nested member object" },
            new object[] { "{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"xyz\":123}]", "{\"foo\":\"bar\",\"baz\":\"qux\"}", null, "A.11 ignore unrecognized elements" },
            new object[] { "{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]", null, JsonPatchError.PathNotFound, "A.12 add to a nonexistent target" },
            new object[] { "{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]", "{\"/\":9,\"~1\":10}", null, "A.14 ~ escape ordering" },
            new object[] { "{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]", null, JsonPatchError.TestFailed, "A.15 comparing strings and numbers" },
            new object[] { "{\"foo\":[\"bar\"]}", "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]", "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}", null, "A.16 add an array value" },
            // Array end and bounds.
            new object[] { "{\"a\":[]}", "[{\"op\":\"add\",\"path\":\"/a/-\",\"value\":1},{\"op\":\"add\",\"path\":\"/a/-\",\"value\":2}]", "{\"a\":[1,2]}", null, "add to the end of an array with -" },
            new object[] { "{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/1\",\"value\":2}]", "{\"a\":[1,2]}", null, "add at index == length appends" },
            new object[] { "{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/2\",\"value\":2}]", null, JsonPatchError.InvalidIndex, "add past the end fails" },
            new object[] { "{\"a\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/a/01\",\"value\":2}]", null, JsonPatchError.InvalidIndex, "an index with a leading zero fails" },
            new object[] { "{\"a\":[1,2,3]}", "[{\"op\":\"remove\",\"path\":\"/a/0\"},{\"op\":\"remove\",\"path\":\"/a/1\"}]", "{\"a\":[2]}", null, "remove from an array shifts the rest" },
            new object[] { "{\"a\":[1]}", "[{\"op\":\"remove\",\"path\":\"/a/-\"}]", null, JsonPatchError.InvalidIndex, "remove at - fails" },
            new object[] { "{\"a\":[1]}", "[{\"op\":\"remove\",\"path\":\"/a/1\"}]", null, JsonPatchError.InvalidIndex, "remove past the end fails" },
            new object[] { "{\"a\":[1]}", "[{\"op\":\"replace\",\"path\":\"/a/0\",\"value\":9}]", "{\"a\":[9]}", null, "replace an array element" },
            // Replace and remove need the target.
            new object[] { "{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":2}]", null, JsonPatchError.PathNotFound, "replace a missing member fails" },
            new object[] { "{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/b\"}]", null, JsonPatchError.PathNotFound, "remove a missing member fails" },
            new object[] { "{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a\",\"value\":2}]", "{\"a\":2}", null, "add over an existing member replaces it" },
            new object[] { "{\"a\":{\"b\":1}}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[1]}]", "[1]", null, "replace the whole document" },
            new object[] { "{\"a\":1}", "[{\"op\":\"add\",\"path\":\"\",\"value\":{\"z\":0}}]", "{\"z\":0}", null, "add at the root replaces the document" },
            new object[] { "{\"a\":\"x\"}", "[{\"op\":\"add\",\"path\":\"/a/b\",\"value\":1}]", null, JsonPatchError.PathNotFound, "add under a string fails" },
            // Escaped keys.
            new object[] { "{}", "[{\"op\":\"add\",\"path\":\"/e~1odd\",\"value\":1},{\"op\":\"add\",\"path\":\"/t~0ilde\",\"value\":2}]", "{\"e/odd\":1,\"t~ilde\":2}", null, "escaped / and ~ in keys" },
            new object[] { "{\"a/b\":{\"~\":1}}", "[{\"op\":\"replace\",\"path\":\"/a~1b/~0\",\"value\":2}]", "{\"a/b\":{\"~\":2}}", null, "escapes at two levels" },
            new object[] { "{\"\":{\"\":1}}", "[{\"op\":\"replace\",\"path\":\"//\",\"value\":2}]", "{\"\":{\"\":2}}", null, "empty keys" },
            new object[] { "{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a~2\",\"value\":1}]", null, JsonPatchError.InvalidPointer, "a bad escape fails" },
            new object[] { "{\"a\":1}", "[{\"op\":\"add\",\"path\":\"a\",\"value\":1}]", null, JsonPatchError.InvalidPointer, "a pointer without / fails" },
            // Move and copy.
            new object[] { "{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/c\"}]", null, JsonPatchError.InvalidMove, "move into its own child fails" },
            new object[] { "{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a\"}]", "{\"a\":1}", null, "move onto itself is a no-op" },
            new object[] { "{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/x\",\"path\":\"/b\"}]", null, JsonPatchError.PathNotFound, "move from a missing path fails" },
            new object[] { "{\"a\":{\"b\":[1]}}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"},{\"op\":\"add\",\"path\":\"/c/b/-\",\"value\":2}]", "{\"a\":{\"b\":[1]},\"c\":{\"b\":[1,2]}}", null, "copy is deep" },
            new object[] { "{\"a\":[1,2]}", "[{\"op\":\"copy\",\"from\":\"/a/0\",\"path\":\"/a/-\"}]", "{\"a\":[1,2,1]}", null, "copy an element to the end" },
            // Test compares structurally.
            new object[] { "{\"a\":{\"x\":1,\"y\":[1,2]}}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":{\"y\":[1,2],\"x\":1.0}}]", "{\"a\":{\"x\":1,\"y\":[1,2]}}", null, "test ignores key order and 1 == 1.0" },
            new object[] { "{\"a\":[1,2]}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":[2,1]}]", null, JsonPatchError.TestFailed, "test respects array order" },
            new object[] { "{\"a\":null}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":null}]", "{\"a\":null}", null, "test a null value" },
            new object[] { "{}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":null}]", null, JsonPatchError.PathNotFound, "test of a missing member fails (absent is not null)" },
            // Malformed operations.
            new object[] { "{}", "[{\"op\":\"jump\",\"path\":\"/a\"}]", null, JsonPatchError.InvalidOperation, "unknown op" },
            new object[] { "{}", "[{\"op\":\"add\",\"path\":\"/a\"}]", null, JsonPatchError.InvalidOperation, "add without value" },
            new object[] { "{}", "[{\"op\":\"add\",\"path\":\"/a\",\"value\":null}]", "{\"a\":null}", null, "value null is a value" },
        };

        public static void Run(T t)
        {
            foreach (var c in Cases)
            {
                string name = (string)c[4];
                JsonValue doc = JsonValue.Parse((string)c[0]);
                string before = doc.ToString();
                List<PatchOperation> ops;
                try
                {
                    ops = new List<PatchOperation>();
                    foreach (var o in JsonValue.Parse((string)c[1]).AsArray) ops.Add(PatchOperation.FromJson(o));
                }
                catch (JsonPatchException e)
                {
                    t.True(c[2] == null && (JsonPatchError)c[3] == e.Error, name + ": parsing the patch failed with " + e.Error + ": " + e.Message);
                    continue;
                }
                if (c[2] != null)
                {
                    try
                    {
                        JsonValue result = JsonPatch.Apply(doc, ops);
                        t.True(result.DeepEquals(JsonValue.Parse((string)c[2])), name + ": got " + result);
                    }
                    catch (JsonPatchException e)
                    {
                        t.Fail(name + ": " + e.Message);
                    }
                }
                else
                {
                    var e = t.Throws<JsonPatchException>(() => JsonPatch.Apply(doc, ops), name);
                    if (e != null) t.Equal((JsonPatchError)c[3], e.Error, name + ": error kind");
                    t.Equal(before, doc.ToString(), name + ": the document is unchanged after the failure");
                }
            }

            // All or nothing: a failure after several successful ops of every kind leaves the document as it was,
            // key order included.
            var view = JsonValue.Parse("{\"entities\":{\"a\":{\"x\":1,\"y\":2},\"b\":{\"x\":3},\"c\":[1,2,3]}}");
            string original = view.ToString();
            var patch = new List<PatchOperation>
            {
                PatchOperation.Replace("/entities/a/x", 10),
                PatchOperation.Remove("/entities/a/y"),
                PatchOperation.Add("/entities/d", JsonValue.Parse("{\"x\":5}")),
                PatchOperation.Remove("/entities/b"),
                PatchOperation.Add("/entities/c/0", 0),
                PatchOperation.Remove("/entities/c/3"),
                PatchOperation.Replace("/entities/c/1", 7),
                PatchOperation.Move("/entities/a", "/entities/z"),
                PatchOperation.Copy("/entities/z", "/entities/a"),
                PatchOperation.Replace("", JsonValue.Parse("{\"gone\":true}")),
                PatchOperation.Replace("/missing", 1),
            };
            var err = t.Throws<JsonPatchException>(() => JsonPatch.Apply(view, patch), "a patch whose last op fails");
            if (err != null) t.Equal(10, err.OperationIndex, "the failing op's index");
            t.Equal(original, view.ToString(), "every earlier op was undone, in order");

            // Values are cloned by default, so a patch applied twice does not alias.
            var doc1 = JsonValue.Parse("{}");
            var addObj = new List<PatchOperation> { PatchOperation.Add("/o", JsonValue.Parse("{\"n\":1}")) };
            JsonPatch.Apply(doc1, addObj);
            ((JsonObject)doc1["o"]).Set("n", 2);
            t.Equal("{\"n\":1}", addObj[0].Value.ToString(), "the op's value is not shared with the document");

            t.Equal("/a~1b/c~0d/", JsonPointer.Build("a/b", "c~d", ""), "pointer building escapes");
            t.Equal("x~1y", JsonPointer.Parse("/x~01y")[0], "~01 decodes to ~1, not /");
            t.Equal(2, JsonPointer.Get(JsonValue.Parse("{\"a\":[1,2]}"), "/a/1").AsLong, "pointer lookup into an array");
        }
    }
}
