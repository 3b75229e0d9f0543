using FASTER.core;

namespace CheckpointCache.Engine.Storage;

/// <summary>
/// Enumerates the live root keys of one store by scanning its hybrid log from the begin address to the
/// tail. The log holds every version of a key and its tombstones in address order, so the last record
/// seen for a key decides whether it is present; a final existence check drops values whose chunks
/// have since been evicted or that failed verification.
/// </summary>
internal static class KeyScanner
{
    /// <summary>Root keys (without their tag) starting with <paramref name="prefix"/>, as the log has them now.</summary>
    public static List<byte[]> LiveRootKeyCandidates(NamespaceStore store, ReadOnlySpan<byte> prefix, CancellationToken cancellationToken)
    {
        // Keyed by content; the value is whether the newest record seen so far is a live version.
        var latest = new Dictionary<byte[], bool>(ByteArrayComparer.Instance);
        var wanted = prefix.ToArray();
        using var iterator = store.Faster.Log.Scan(store.BeginAddress, store.TailAddress);
        long seen = 0;
        while (iterator.GetNext(out var info))
        {
            if ((++seen & 0xFFF) == 0) cancellationToken.ThrowIfCancellationRequested();
            var key = iterator.GetKey().AsReadOnlySpan();
            if (key.Length < 1 + wanted.Length || key[0] != RecordKey.RootTag || !key[1..].StartsWith(wanted)) continue;
            latest[key[1..].ToArray()] = !info.Tombstone;
        }
        var keys = new List<byte[]>(latest.Count);
        foreach (var (key, live) in latest)
            if (live) keys.Add(key);
        return keys;
    }

    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();
        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(byte[] obj)
        {
            var hash = new HashCode();
            hash.AddBytes(obj);
            return hash.ToHashCode();
        }
    }
}
