using System;

namespace Worldline.Client.Tests
{
    static class ClockSyncTests
    {
        static bool Near(double a, double b, double eps) { return Math.Abs(a - b) <= eps; }

        public static void Run(T t)
        {
            // The server clock runs 5,000 ms ahead of ours. Equal legs of 10 ms: offset exact, RTT 20.
            const double trueOffset = 5000;
            var c = new ClockSync();
            t.True(!c.HasEstimate && double.IsNaN(c.RttMs) && c.OffsetMs == 0, "no estimate before a sample");
            t.True(c.AddSample(1000, 1000 + 10 + trueOffset, 1020, 77), "a valid sample is accepted");
            t.Equal(trueOffset, c.OffsetMs, "symmetric legs give the exact offset");
            t.Equal(20.0, c.RttMs, "first RTT sample is taken as is");
            t.Equal(10.0, c.RttVarMs, "RTT variation starts at half the RTT (RFC 6298)");
            t.Equal(77UL, c.LastSimTime, "the Pong's sim_time is kept");
            t.Equal(1234.0 + trueOffset, c.ServerNow(1234), "server time now");
            t.Equal(1234.0, c.ToLocal(1234 + trueOffset), "and back");

            // Asymmetric legs (2 ms out, 38 ms back) are off by half the difference: (38 - 2) / 2 = 18 ms.
            var a = new ClockSync();
            a.AddSample(0, 2 + trueOffset, 40);
            t.Equal(trueOffset - 18, a.OffsetMs, "asymmetric legs bias the offset by half their difference");

            // RTT smoothing: SRTT = 7/8 SRTT + 1/8 R, RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|.
            var s = new ClockSync();
            s.AddSample(0, trueOffset + 50, 100);   // R = 100
            s.AddSample(200, trueOffset + 220, 240); // R = 40
            t.True(Near(92.5, s.RttMs, 1e-9), "SRTT after 100 then 40 is 92.5, got " + s.RttMs);
            t.True(Near(0.75 * 50 + 0.25 * 60, s.RttVarMs, 1e-9), "RTTVAR after 100 then 40, got " + s.RttVarMs);
            t.Equal(40.0, s.MinRttMs, "the fastest round trip");

            // The offset follows the fastest exchange in the window: congested samples (long RTT, one-sided delay)
            // do not drag it. 7 congested samples (return leg +200 ms) after one clean one.
            var f = new ClockSync(8);
            f.AddSample(0, 10 + trueOffset, 20);
            for (int i = 1; i <= 7; i++)
            {
                double sent = i * 1000;
                f.AddSample(sent, sent + 10 + trueOffset, sent + 220);
            }
            t.Equal(trueOffset, f.OffsetMs, "congested samples are filtered out by the fastest-exchange rule");

            // When the clock offset changes (server clock stepped by +100 ms), the estimate converges geometrically.
            var g = new ClockSync(4);
            g.AddSample(0, 10 + trueOffset, 20);
            double previousError = double.MaxValue;
            bool shrinking = true;
            for (int i = 1; i <= 40; i++)
            {
                double sent = i * 1000;
                g.AddSample(sent, sent + 10 + trueOffset + 100, sent + 20);
                double error = Math.Abs(g.OffsetMs - (trueOffset + 100));
                if (error > previousError) shrinking = false;
                previousError = error;
            }
            t.True(shrinking, "the offset error never grows while converging");
            t.True(previousError < 0.01, "the offset converges to the new value, error " + previousError);

            // Impossible samples change nothing.
            var bad = new ClockSync();
            bad.AddSample(0, trueOffset + 10, 20);
            t.True(!bad.AddSample(500, trueOffset, 400), "a negative RTT (local clock stepped back) is refused");
            t.True(!bad.AddSample(double.NaN, trueOffset, 400), "NaN is refused");
            t.Equal(1, bad.SampleCount, "refused samples are not counted");
            t.Equal(trueOffset, bad.OffsetMs, "refused samples leave the offset");
            bad.Reset();
            t.True(!bad.HasEstimate && bad.OffsetMs == 0, "reset forgets everything");
        }
    }
}
