using System;

namespace Worldline.Client
{
    /// <summary>
    /// Server clock estimate from Ping/Pong round trips. For one exchange (client sends at t0 and receives at t1 on
    /// its own clock, the server stamps ts): rtt = t1 - t0 and offset = ts - (t0 + t1) / 2, exact when the two legs
    /// take equal time and wrong by at most rtt / 2 otherwise. So the offset is taken from the fastest exchange of the
    /// last few (the one least skewed by queueing) and smoothed; the RTT is smoothed as TCP does (RFC 6298).
    /// Pure arithmetic: the caller passes times in milliseconds from any monotonic clock.
    /// </summary>
    public sealed class ClockSync
    {
        /// <summary>Samples kept for the fastest-exchange filter.</summary>
        public readonly int Window;
        /// <summary>Weight of a new sample in the smoothed RTT (RFC 6298 alpha).</summary>
        public const double RttGain = 0.125;
        /// <summary>Weight of a new sample in the smoothed RTT variation (RFC 6298 beta).</summary>
        public const double RttVarGain = 0.25;
        /// <summary>Weight of the fastest exchange's offset in the smoothed offset.</summary>
        public const double OffsetGain = 0.25;

        readonly double[] rtts;
        readonly double[] offsets;
        int next;
        int filled;

        public ClockSync(int window = 8)
        {
            if (window < 1) throw new ArgumentOutOfRangeException("window");
            Window = window;
            rtts = new double[window];
            offsets = new double[window];
            Reset();
        }

        /// <summary>Exchanges accepted so far.</summary>
        public int SampleCount { get; private set; }
        /// <summary>Smoothed round-trip time, ms (NaN before the first sample).</summary>
        public double RttMs { get; private set; }
        /// <summary>Smoothed mean deviation of the RTT, ms.</summary>
        public double RttVarMs { get; private set; }
        /// <summary>The fastest round trip among the kept samples, ms.</summary>
        public double MinRttMs { get; private set; }
        /// <summary>Smoothed server clock minus local clock, ms (0 before the first sample).</summary>
        public double OffsetMs { get; private set; }
        /// <summary>The server's sim_time in the last accepted Pong.</summary>
        public ulong LastSimTime { get; private set; }
        /// <summary>True once at least one exchange was accepted.</summary>
        public bool HasEstimate { get { return SampleCount > 0; } }

        /// <summary>
        /// Adds one Ping/Pong exchange: <paramref name="sentMs"/> (echoed client_time), the Pong's server_time and
        /// sim_time, and when the Pong arrived. Returns false (and changes nothing) for an impossible sample, such
        /// as a negative round trip after the local clock was reset.
        /// </summary>
        public bool AddSample(double sentMs, double serverTimeMs, double receivedMs, ulong simTime = 0)
        {
            double rtt = receivedMs - sentMs;
            if (double.IsNaN(rtt) || double.IsInfinity(rtt) || rtt < 0 || double.IsNaN(serverTimeMs)) return false;
            double offset = serverTimeMs - (sentMs + receivedMs) / 2;

            rtts[next] = rtt;
            offsets[next] = offset;
            next = (next + 1) % Window;
            if (filled < Window) filled++;

            // Newest first, so among equally fast exchanges the most recent offset wins.
            int best = (next - 1 + Window) % Window;
            for (int k = 1; k < filled; k++)
            {
                int i = (next - 1 - k + 2 * Window) % Window;
                if (rtts[i] < rtts[best]) best = i;
            }
            MinRttMs = rtts[best];

            if (SampleCount == 0)
            {
                RttMs = rtt;
                RttVarMs = rtt / 2;
                OffsetMs = offsets[best];
            }
            else
            {
                RttVarMs = (1 - RttVarGain) * RttVarMs + RttVarGain * Math.Abs(RttMs - rtt);
                RttMs = (1 - RttGain) * RttMs + RttGain * rtt;
                OffsetMs += OffsetGain * (offsets[best] - OffsetMs);
            }
            LastSimTime = simTime;
            SampleCount++;
            return true;
        }

        /// <summary>The server's clock now (ms since the Unix epoch), given the local clock now.</summary>
        public double ServerNow(double localNowMs) { return localNowMs + OffsetMs; }

        /// <summary>The local clock reading at which the server's clock shows <paramref name="serverMs"/>.</summary>
        public double ToLocal(double serverMs) { return serverMs - OffsetMs; }

        /// <summary>Forgets every sample (for instance after the network path changed).</summary>
        public void Reset()
        {
            next = 0;
            filled = 0;
            SampleCount = 0;
            RttMs = double.NaN;
            RttVarMs = 0;
            MinRttMs = double.NaN;
            OffsetMs = 0;
            LastSimTime = 0;
        }
    }
}
