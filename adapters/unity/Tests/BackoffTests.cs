using System;

namespace Worldline.Client.Tests
{
    static class BackoffTests
    {
        public static void Run(T t)
        {
            double r = 0;
            var b = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(1000), 2.0, () => r);
            t.Equal(50.0, b.Next().TotalMilliseconds, "attempt 0 with random 0: half the initial delay");
            t.Equal(100.0, b.Next().TotalMilliseconds, "attempt 1: half of 200");
            r = 0.999999;
            t.True(Math.Abs(b.Next().TotalMilliseconds - 400) < 0.01, "attempt 2 with random near 1: almost all of 400");
            t.Equal(800.0, b.Ceiling(3).TotalMilliseconds, "ceiling doubles");
            t.Equal(1000.0, b.Ceiling(4).TotalMilliseconds, "ceiling is capped at Max");
            t.Equal(1000.0, b.Ceiling(200).TotalMilliseconds, "no overflow for large attempts");
            t.Equal(3, b.Attempt, "attempts counted");
            r = 0;
            t.Equal(5000.0, b.Next(TimeSpan.FromSeconds(5)).TotalMilliseconds, "a server's retry_after wins when longer");
            b.Reset();
            t.Equal(0, b.Attempt, "reset after a successful connection");
            t.Equal(50.0, b.Next().TotalMilliseconds, "and the next delay is short again");

            var real = Backoff.Default();
            for (int i = 0; i < 50; i++)
            {
                double d = real.Next().TotalMilliseconds;
                double ceiling = real.Ceiling(i).TotalMilliseconds;
                if (d < ceiling / 2 || d > ceiling) { t.Fail("jittered delay " + d + " outside [" + ceiling / 2 + ", " + ceiling + "]"); break; }
            }
            t.True(true, "jittered delays stay between half and all of the ceiling");
            t.Throws<ArgumentOutOfRangeException>(() => new Backoff(TimeSpan.Zero, TimeSpan.FromSeconds(1)), "a zero initial delay is refused");
        }
    }
}
