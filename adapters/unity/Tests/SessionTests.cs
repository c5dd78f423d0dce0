using System;
using Worldline.Client.Json;

namespace Worldline.Client.Tests
{
    static class SessionTests
    {
        public static void Run(T t)
        {
            var unauthorized = new ServerError(5001, "UNAUTHORIZED", "send a valid token", RecoveryHint.Abort, null);
            var quota = new ServerError(3001, "QUOTA_EXCEEDED", "slow down", RecoveryHint.Defer, JsonValue.Parse("{\"retry_after_ms\":1500}").AsObject);
            t.Equal(ReconnectDecision.Stop, ReconnectPolicy.AfterClose(1008, unauthorized), "a refused token is not retried");
            t.Equal(ReconnectDecision.Stop, ReconnectPolicy.AfterClose(1000, unauthorized), "an ABORT answer to Hello stops even on a clean close");
            t.Equal(ReconnectDecision.Stop, ReconnectPolicy.AfterClose(1008, null), "a policy close (quarantine) is not retried");
            t.Equal(ReconnectDecision.Retry, ReconnectPolicy.AfterClose(1006, null), "a dropped connection is retried");
            t.Equal(ReconnectDecision.Retry, ReconnectPolicy.AfterClose(1013, null), "try-again is retried");
            t.Equal(ReconnectDecision.Retry, ReconnectPolicy.AfterClose(1000, quota), "a quota error is retried");
            t.Equal(TimeSpan.FromMilliseconds(1500), ReconnectPolicy.Hint(quota), "after the server's retry_after_ms");
            t.Equal(TimeSpan.Zero, ReconnectPolicy.Hint(unauthorized), "no hint without retry_after_ms");
            t.Equal("UNAUTHORIZED (5001): send a valid token", unauthorized.ToString(), "errors print name, code and message");

            // Welcome: a snapshot, a resume, or (the engine joined without an agent) no view at all.
            t.Equal(WelcomeAction.ApplySnapshot, ReconnectPolicy.OnWelcome(true, 40, "a1", -1), "a Welcome with a snapshot replaces the view");
            t.Equal(WelcomeAction.ResumeDeltas, ReconnectPolicy.OnWelcome(false, 40, "a1", 40), "a Welcome resuming from the view held");
            t.Equal(WelcomeAction.Resync, ReconnectPolicy.OnWelcome(false, 41, "a1", 40), "a Welcome resuming from another view_seq: take a fresh snapshot");
            t.Equal(WelcomeAction.Resync, ReconnectPolicy.OnWelcome(false, 0, "a1", -1), "an agent's Welcome without a snapshot when no view is held");
            t.Equal(WelcomeAction.NoView, ReconnectPolicy.OnWelcome(false, 0, "", -1), "the engine's Welcome (no agent, no snapshot, view_seq 0) joins without a view, not a resync loop");

            var url = WorldlineUrl.Build(new Uri("https://example.test:8443/base/"), "arena 1", "a b");
            t.Equal("wss://example.test:8443/base/v1/worlds/arena%201/ws?token=a%20b", url.AbsoluteUri, "https maps to wss, the path prefix is kept, parts are escaped");
            t.Equal("ws://127.0.0.1:8080/v1/worlds/w/ws", WorldlineUrl.Build(new Uri("ws://127.0.0.1:8080"), "w").AbsoluteUri, "no token, no query");
            t.Throws<ArgumentException>(() => WorldlineUrl.Build(new Uri("ftp://x"), "w"), "other schemes are refused");

            var options = new WorldlineClientOptions { ServerUrl = new Uri("ws://127.0.0.1:1"), WorldId = "w" };
            options.Validate();
            t.True(true, "minimal options validate");
            options.WorldId = "";
            t.Throws<ArgumentException>(() => options.Validate(), "a missing world id is named");
        }
    }
}
