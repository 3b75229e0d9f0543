namespace CheckpointCache.Engine.Tests;

/// <summary>Damages values where they lie on disk: one flipped byte in each chosen value's payload, found by its bytes.</summary>
internal static class SegmentDamage
{
    /// <summary>Flips a byte in every value <paramref name="chosen"/> picks among <paramref name="count"/>; returns those found on disk.</summary>
    public static HashSet<int> FlipValues(string logFolder, int count, Func<int, bool> chosen, Func<int, byte[]> valueOf)
    {
        var damaged = new HashSet<int>();
        foreach (var segment in Directory.GetFiles(logFolder))
        {
            var bytes = File.ReadAllBytes(segment);
            for (int i = 0; i < count; i++)
            {
                if (!chosen(i)) continue;
                int at = bytes.AsSpan().IndexOf(valueOf(i).AsSpan(1000, 64));
                if (at < 0) continue;
                bytes[at + 10] ^= 0x5A;
                damaged.Add(i);
            }
            File.WriteAllBytes(segment, bytes);
        }
        return damaged;
    }
}
