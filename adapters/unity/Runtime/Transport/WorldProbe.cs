using System;
using System.IO;
using System.Net;
using System.Text;
using System.Threading.Tasks;
using Worldline.Client.Json;

namespace Worldline.Client
{
    /// <summary>
    /// Why a WebSocket upgrade failed. .NET's ClientWebSocket does not say what the server answered to a refused
    /// upgrade (Mono: "Unable to connect to the remote server"), so after a connection that never opened the client
    /// asks the world's REST resource (GET /v1/worlds/{id}, with its token): a world that is gone answers 404
    /// WORLD_NOT_FOUND, a bad token 401, and so on. A final answer (<see cref="IsFinal"/>) stops reconnecting.
    /// </summary>
    public static class WorldProbe
    {
        /// <summary>Whether an HTTP status means retrying cannot help: a 4xx other than 408 and 429.</summary>
        public static bool IsFinal(int httpStatus)
        {
            return httpStatus >= 400 && httpStatus < 500 && httpStatus != 408 && httpStatus != 429;
        }

        /// <summary>
        /// The server's error for the world at <paramref name="resource"/> (details.http_status set), or null when the
        /// world is there, when the answer is not a Worldline error, or when there is no answer (server down, timeout).
        /// </summary>
        public static Task<ServerError> ProbeAsync(Uri resource, string token, TimeSpan timeout)
        {
            return Task.Run(() => Probe(resource, token, timeout));
        }

        static ServerError Probe(Uri resource, string token, TimeSpan timeout)
        {
            try
            {
                var req = (HttpWebRequest)WebRequest.Create(resource);
                req.Method = "GET";
                req.Timeout = (int)timeout.TotalMilliseconds;
                req.ReadWriteTimeout = (int)timeout.TotalMilliseconds;
                if (!string.IsNullOrEmpty(token)) req.Headers[HttpRequestHeader.Authorization] = "Bearer " + token;
                using (var res = (HttpWebResponse)req.GetResponse()) return null; // 2xx: the world is there
            }
            catch (WebException e)
            {
                var res = e.Response as HttpWebResponse;
                if (res == null) return null;
                using (res)
                {
                    string body;
                    using (var reader = new StreamReader(res.GetResponseStream(), Encoding.UTF8)) body = reader.ReadToEnd();
                    return FromBody((int)res.StatusCode, body);
                }
            }
            catch (Exception)
            {
                return null;
            }
        }

        /// <summary>The ServerError in an HTTP error body ({"error": {code, name, message, recovery, details}}), or null.</summary>
        public static ServerError FromBody(int httpStatus, string body)
        {
            JsonValue doc;
            try { doc = JsonParser.Parse(body); }
            catch (Exception) { return null; }
            var e = doc["error"];
            if (e == null || e.Kind != JsonKind.Object) return null;
            var name = e["name"];
            var message = e["message"];
            if (name == null || name.Kind != JsonKind.String || message == null || message.Kind != JsonKind.String) return null;
            var code = e["code"];
            var given = e["details"];
            var details = given != null && given.Kind == JsonKind.Object ? (JsonObject)given.DeepClone() : new JsonObject();
            details["http_status"] = new JsonNumber(httpStatus);
            var recovery = e["recovery"];
            return new ServerError(code != null && code.Kind == JsonKind.Number ? (int)code.AsDouble : 0, name.AsString, message.AsString, RecoveryOf(recovery != null && recovery.Kind == JsonKind.String ? recovery.AsString : ""), details);
        }

        static RecoveryHint RecoveryOf(string name)
        {
            switch (name)
            {
                case "RETRY": return RecoveryHint.Retry;
                case "RETRY_WITH_DELAY": return RecoveryHint.RetryWithDelay;
                case "REGENERATE": return RecoveryHint.Regenerate;
                case "MODIFY_INTENT": return RecoveryHint.ModifyIntent;
                case "DEFER": return RecoveryHint.Defer;
                case "SHED_OLDEST": return RecoveryHint.ShedOldest;
                case "ABORT": return RecoveryHint.Abort;
                default: return RecoveryHint.Unspecified;
            }
        }

        /// <summary>details.http_status of an error made by <see cref="FromBody"/> (0 when absent).</summary>
        public static int HttpStatusOf(ServerError error)
        {
            var v = error == null ? null : error.Details["http_status"];
            return v != null && v.Kind == JsonKind.Number ? (int)v.AsDouble : 0;
        }
    }
}
