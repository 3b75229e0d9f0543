namespace CheckpointCache.Engine.Storage;

/// <summary>
/// The values appended to the log, oldest first, with the log address at which each append ended: the RAM tier is
/// the log above its head address, so the oldest entry still above the head is the value that the next append
/// (a put or a promotion) pushes out to the SSD tier. Entries below the head are dropped as they are met.
/// Values appended before the store opened are not known; with none known there is no victim.
/// </summary>
internal sealed class RamResidents
{
    private readonly Queue<(long EndAddress, ulong KeyHash)> _appended = new();

    public int Count { get { lock (_appended) return _appended.Count; } }

    public void Appended(ulong keyHash, long endAddress, long headAddress)
    {
        lock (_appended)
        {
            _appended.Enqueue((endAddress, keyHash));
            Trim(headAddress);
        }
    }

    /// <summary>The key hash of the oldest value still in RAM, if one is known.</summary>
    public bool TryGetVictim(long headAddress, out ulong keyHash)
    {
        lock (_appended)
        {
            Trim(headAddress);
            bool known = _appended.TryPeek(out var oldest);
            keyHash = oldest.KeyHash;
            return known;
        }
    }

    private void Trim(long headAddress)
    {
        // A value whose record ended at or below the head has left RAM entirely.
        while (_appended.TryPeek(out var oldest) && oldest.EndAddress <= headAddress) _appended.Dequeue();
    }
}
