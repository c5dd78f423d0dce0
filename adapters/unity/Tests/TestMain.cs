using System;
using System.Collections.Generic;
using System.IO;

namespace Worldline.Client.Tests
{
    /// <summary>
    /// Console test runner for the parts of the Unity client that need neither UnityEngine nor Google.Protobuf
    /// (built and run by adapters/unity/build-check.sh under Mono). Exit code 0 when every check passed.
    /// Usage: mono worldline-client-tests.exe REPO_ROOT
    /// </summary>
    public static class TestMain
    {
        public static int Main(string[] args)
        {
            string repo = args.Length > 0 ? args[0] : Path.GetFullPath(Path.Combine(AppDomain.CurrentDomain.BaseDirectory, "../../.."));
            var t = new T(repo);
            var suites = new List<KeyValuePair<string, Action<T>>>
            {
                Suite("json", JsonTests.Run),
                Suite("json-patch", PatchTests.Run),
                Suite("compact-ops", OpStreamTests.Run),
                Suite("golden-frames", GoldenFrameTests.Run),
                Suite("view", ViewTests.Run),
                Suite("clock-sync", ClockSyncTests.Run),
                Suite("backoff", BackoffTests.Run),
                Suite("session", SessionTests.Run),
                Suite("transport", TransportTests.Run),
                Suite("live", LiveTests.Run),
            };
            foreach (var s in suites)
            {
                int before = t.Failures, checks = t.Checks;
                try { s.Value(t); }
                catch (Exception e) { t.Fail(s.Key + ": unexpected " + e); }
                Console.WriteLine("{0,-14} {1,4} checks  {2}", s.Key, t.Checks - checks, t.Failures == before ? "ok" : (t.Failures - before) + " FAILED");
            }
            Console.WriteLine(t.Failures == 0 ? "all " + t.Checks + " checks passed" : t.Failures + " of " + t.Checks + " checks FAILED");
            return t.Failures == 0 ? 0 : 1;
        }

        static KeyValuePair<string, Action<T>> Suite(string name, Action<T> run) { return new KeyValuePair<string, Action<T>>(name, run); }
    }

    /// <summary>A tiny assertion helper: counts checks, prints each failure, never stops at the first.</summary>
    public sealed class T
    {
        public readonly string Repo;
        public int Checks;
        public int Failures;

        public T(string repo) { Repo = repo; }

        public string Fixture(string relative) { return Path.Combine(Repo, "test/fixtures/frames/v1/" + relative); }

        public void Fail(string message)
        {
            Failures++;
            Console.WriteLine("  FAIL " + message);
        }

        public void True(bool condition, string what)
        {
            Checks++;
            if (!condition) Fail(what);
        }

        public void Equal<TV>(TV expected, TV actual, string what)
        {
            Checks++;
            if (!EqualityComparer<TV>.Default.Equals(expected, actual)) Fail(what + ": expected <" + expected + "> got <" + actual + ">");
        }

        /// <summary>Checks that <paramref name="action"/> throws <typeparamref name="TE"/>; returns it (or null).</summary>
        public TE Throws<TE>(Action action, string what) where TE : Exception
        {
            Checks++;
            try
            {
                action();
            }
            catch (TE e)
            {
                return e;
            }
            catch (Exception e)
            {
                Fail(what + ": expected " + typeof(TE).Name + ", got " + e.GetType().Name + ": " + e.Message);
                return null;
            }
            Fail(what + ": expected " + typeof(TE).Name + ", nothing was thrown");
            return null;
        }
    }
}
