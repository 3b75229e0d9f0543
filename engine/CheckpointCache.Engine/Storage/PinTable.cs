using System.Collections.Concurrent;

namespace CheckpointCache.Engine.Storage;

/// <summary>
/// Keys a caller asked to keep until a deadline (a prefix between Lookup and load). Eviction
/// consults it and carries pinned values forward instead of dropping them.
/// </summary>
internal sealed class PinTable
{
    private readonly ConcurrentDictionary<string, (byte[] Key, DateTimeOffset Until)> _pins = new(StringComparer.Ordinal);

    public int Count => _pins.Count;

    public void Pin(ReadOnlySpan<byte> key, DateTimeOffset until)
    {
        var id = Convert.ToHexString(key);
        var copy = key.ToArray();
        _pins.AddOrUpdate(id, (copy, until), (_, old) => (copy, old.Until > until ? old.Until : until));
    }

    /// <summary>Pins still in force; expired ones are dropped on the way.</summary>
    public List<byte[]> Live(DateTimeOffset now)
    {
        var live = new List<byte[]>();
        foreach (var (id, pin) in _pins)
        {
            if (pin.Until <= now) _pins.TryRemove(id, out _);
            else live.Add(pin.Key);
        }
        return live;
    }
}
