using System;

namespace Worldline.Client
{
    /// <summary>
    /// Reconnect delays: exponential (Initial × Multiplier^attempt, capped at Max) with "equal jitter" (half the delay
    /// fixed, half random), so clients dropped together by a server restart do not reconnect in lockstep. The random
    /// source is a parameter so tests (and replays) control it.
    /// </summary>
    public sealed class Backoff
    {
        public readonly TimeSpan Initial;
        public readonly TimeSpan Max;
        public readonly double Multiplier;
        readonly Func<double> random;

        /// <summary>Delays handed out since the last <see cref="Reset"/>.</summary>
        public int Attempt { get; private set; }

        /// <summary>Delays from <paramref name="initial"/>, times <paramref name="multiplier"/> per attempt, capped at <paramref name="max"/>.</summary>
        /// <param name="initial">The first delay's ceiling.</param>
        /// <param name="max">The largest ceiling.</param>
        /// <param name="multiplier">Growth per attempt (at least 1).</param>
        /// <param name="random">Uniform in [0, 1); defaults to a System.Random.</param>
        public Backoff(TimeSpan initial, TimeSpan max, double multiplier = 2.0, Func<double> random = null)
        {
            if (initial <= TimeSpan.Zero) throw new ArgumentOutOfRangeException("initial");
            if (max < initial) throw new ArgumentOutOfRangeException("max");
            if (!(multiplier >= 1.0)) throw new ArgumentOutOfRangeException("multiplier");
            Initial = initial;
            Max = max;
            Multiplier = multiplier;
            if (random == null)
            {
                var rng = new Random();
                random = rng.NextDouble;
            }
            this.random = random;
        }

        /// <summary>The defaults: 250 ms doubling up to 30 s.</summary>
        public static Backoff Default() { return new Backoff(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(30)); }

        /// <summary>The un-jittered delay of a given attempt (0-based).</summary>
        public TimeSpan Ceiling(int attempt)
        {
            double ms = Initial.TotalMilliseconds * Math.Pow(Multiplier, Math.Max(0, attempt));
            return TimeSpan.FromMilliseconds(Math.Min(ms, Max.TotalMilliseconds));
        }

        /// <summary>The next delay: between half and all of the current ceiling. Advances the attempt count.</summary>
        public TimeSpan Next()
        {
            double ceiling = Ceiling(Attempt).TotalMilliseconds;
            Attempt++;
            double r = random();
            if (r < 0 || r >= 1 || double.IsNaN(r)) r = 0;
            return TimeSpan.FromMilliseconds(ceiling / 2 + r * ceiling / 2);
        }

        /// <summary>The next delay, but never shorter than a server's hint (retry_after_ms in an error's details).</summary>
        public TimeSpan Next(TimeSpan atLeast)
        {
            TimeSpan d = Next();
            return d < atLeast ? atLeast : d;
        }

        /// <summary>Call once a connection has succeeded (Welcome received): the next failure starts short again.</summary>
        public void Reset() { Attempt = 0; }
    }
}
