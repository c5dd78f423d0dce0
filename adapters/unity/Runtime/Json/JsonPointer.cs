using System;
using System.Collections.Generic;
using System.Text;

namespace Worldline.Client.Json
{
    /// <summary>RFC 6901 JSON Pointers: "" is the whole document, "/a~1b/0" is member "a/b", then index 0.</summary>
    public static class JsonPointer
    {
        /// <summary>The reference tokens of a pointer, unescaped (~1 to '/', then ~0 to '~').</summary>
        public static string[] Parse(string pointer)
        {
            if (pointer == null) throw new ArgumentNullException("pointer");
            if (pointer.Length == 0) return new string[0];
            if (pointer[0] != '/') throw new JsonPatchException(JsonPatchError.InvalidPointer, "a JSON Pointer is empty or starts with '/': \"" + pointer + "\"");
            var tokens = new List<string>();
            var sb = new StringBuilder();
            for (int i = 1; i <= pointer.Length; i++)
            {
                if (i == pointer.Length || pointer[i] == '/')
                {
                    tokens.Add(sb.ToString());
                    sb.Length = 0;
                    continue;
                }
                char c = pointer[i];
                if (c != '~') { sb.Append(c); continue; }
                // One pass decodes "~01" as "~1" (a literal tilde then '1'), which is what "~1 first, then ~0" means.
                char next = i + 1 < pointer.Length ? pointer[i + 1] : '\0';
                if (next == '0') sb.Append('~');
                else if (next == '1') sb.Append('/');
                else throw new JsonPatchException(JsonPatchError.InvalidPointer, "'~' must be followed by 0 or 1 in \"" + pointer + "\"");
                i++;
            }
            return tokens.ToArray();
        }

        /// <summary>Escapes one reference token ('~' to ~0, '/' to ~1).</summary>
        public static string Escape(string token)
        {
            if (token.IndexOf('~') < 0 && token.IndexOf('/') < 0) return token;
            return token.Replace("~", "~0").Replace("/", "~1");
        }

        /// <summary>A pointer from unescaped tokens.</summary>
        public static string Build(params string[] tokens)
        {
            var sb = new StringBuilder();
            foreach (var t in tokens) sb.Append('/').Append(Escape(t));
            return sb.ToString();
        }

        /// <summary>The value a pointer names, or null when it names nothing.</summary>
        public static JsonValue Get(JsonValue document, string pointer)
        {
            JsonValue current = document;
            foreach (var token in Parse(pointer))
            {
                if (current == null) return null;
                if (current.Kind == JsonKind.Object) current = ((JsonObject)current)[token];
                else if (current.Kind == JsonKind.Array)
                {
                    var a = (JsonArray)current;
                    int index;
                    if (!TryArrayIndex(token, out index) || index >= a.Count) return null;
                    current = a[index];
                }
                else return null;
            }
            return current;
        }

        /// <summary>An array index token: "0" or digits without a leading zero (RFC 6901 section 4).</summary>
        public static bool TryArrayIndex(string token, out int index)
        {
            index = -1;
            if (token.Length == 0 || token.Length > 9) return false;
            if (token.Length > 1 && token[0] == '0') return false;
            int v = 0;
            foreach (char c in token)
            {
                if (c < '0' || c > '9') return false;
                v = v * 10 + (c - '0');
            }
            index = v;
            return true;
        }
    }
}
