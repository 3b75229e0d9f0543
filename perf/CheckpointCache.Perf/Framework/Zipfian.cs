namespace CheckpointCache.Perf.Framework;

/// <summary>
/// Key choosers over ids [0, n): uniform, or YCSB's scrambled zipfian (Gray et al., "Quickly generating
/// billion-record synthetic databases", theta 0.99 by default). Scrambled: the popular ids are spread
/// over the key space by a hash, so "hot" does not mean "written first" (which for a log-structured store
/// would mean "oldest", i.e. on SSD).
/// </summary>
public abstract class KeyChooser
{
    public abstract long Next(Random random);

    public static KeyChooser Create(string distribution, long n, double theta) => distribution switch
    {
        "uniform" => new Uniform(n),
        "zipfian" => new ScrambledZipfian(n, theta),
        _ => throw new ArgumentException($"unknown key distribution '{distribution}' (uniform, zipfian)"),
    };

    private sealed class Uniform(long n) : KeyChooser
    {
        public override long Next(Random random) => random.NextInt64(n);
    }

    private sealed class ScrambledZipfian : KeyChooser
    {
        private readonly long _n;
        private readonly double _theta, _alpha, _zetan, _eta, _half;

        public ScrambledZipfian(long n, double theta)
        {
            if (n < 2) throw new ArgumentException("zipfian needs at least 2 keys");
            _n = n;
            _theta = theta;
            _zetan = Zeta(n, theta);
            double zeta2 = Zeta(2, theta);
            _alpha = 1.0 / (1.0 - theta);
            _eta = (1 - Math.Pow(2.0 / n, 1 - theta)) / (1 - zeta2 / _zetan);
            _half = 1 + Math.Pow(0.5, theta);
        }

        private static double Zeta(long n, double theta)
        {
            double sum = 0;
            for (long i = 1; i <= n; i++) sum += 1 / Math.Pow(i, theta);
            return sum;
        }

        public override long Next(Random random)
        {
            double u = random.NextDouble();
            double uz = u * _zetan;
            long rank = uz < 1 ? 0 : uz < _half ? 1 : (long)(_n * Math.Pow(_eta * u - _eta + 1, _alpha));
            rank = Math.Min(rank, _n - 1);
            return (long)(Fnv64((ulong)rank) % (ulong)_n);
        }

        private static ulong Fnv64(ulong value)
        {
            ulong hash = 0xCBF29CE484222325;
            for (int i = 0; i < 8; i++)
            {
                hash ^= value & 0xFF;
                hash *= 0x100000001B3;
                value >>= 8;
            }
            return hash;
        }
    }
}
