using System;
using System.Text;

namespace Worldline.Client
{
    /// <summary>The WebSocket endpoint of a world: ws://HOST:PORT/v1/worlds/{worldId}/ws[?token=...].</summary>
    public static class WorldlineUrl
    {
        /// <summary>The subprotocol this client speaks (one protobuf ClientFrame or ServerFrame per binary message).</summary>
        public const string ProtoSubprotocol = "worldline.v1.proto";

        /// <summary>
        /// The endpoint of <paramref name="worldId"/> on <paramref name="server"/> (ws:, wss:, or http:/https:, which
        /// map to ws:/wss:; any path on it is kept as a prefix). With <paramref name="queryToken"/> the token goes in the
        /// query string: the only way on WebGL, where browsers cannot set headers. Elsewhere prefer Hello, which keeps
        /// the token out of proxy and server access logs.
        /// </summary>
        public static Uri Build(Uri server, string worldId, string queryToken = null)
        {
            if (server == null) throw new ArgumentNullException("server");
            if (string.IsNullOrEmpty(worldId)) throw new ArgumentException("a world id is needed", "worldId");
            string scheme = server.Scheme;
            if (scheme == "http") scheme = "ws";
            else if (scheme == "https") scheme = "wss";
            else if (scheme != "ws" && scheme != "wss") throw new ArgumentException("the server URL must be ws:, wss:, http: or https:", "server");
            var sb = new StringBuilder();
            sb.Append(scheme).Append("://").Append(server.Authority);
            sb.Append(server.AbsolutePath.TrimEnd('/'));
            sb.Append("/v1/worlds/").Append(Uri.EscapeDataString(worldId)).Append("/ws");
            if (!string.IsNullOrEmpty(queryToken)) sb.Append("?token=").Append(Uri.EscapeDataString(queryToken));
            return new Uri(sb.ToString());
        }

        /// <summary>
        /// The REST resource of a world on the same server, http(s)://host:port[/base]/v1/worlds/{worldId}: what
        /// <see cref="WorldProbe"/> asks when a WebSocket upgrade fails without saying why.
        /// </summary>
        public static Uri Resource(Uri server, string worldId)
        {
            var ws = Build(server, worldId);
            var sb = new StringBuilder();
            sb.Append(ws.Scheme == "wss" ? "https" : "http").Append("://").Append(ws.Authority);
            string p = ws.AbsolutePath;
            sb.Append(p.Substring(0, p.Length - "/ws".Length));
            return new Uri(sb.ToString());
        }
    }
}
