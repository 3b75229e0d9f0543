using System.IO.Hashing;
using System.Numerics;
using CheckpointCache.Engine.Options;

namespace CheckpointCache.Engine.Storage;

/// <summary>
/// Decides which SSD hits are copied back to the RAM tier. A promotion is an append at the log's tail, so it pushes
/// the oldest value in RAM out to SSD and costs a disk write of the value's size (on the disk measured here a
/// write costs three times a read of the same size). It pays only when the promoted value will be read more than
/// the one it displaces. So an SSD hit promotes when all of these hold:
/// <list type="bullet">
/// <item>the namespace promotes at all (<see cref="NamespaceOptions.PromoteOnHit"/>);</item>
/// <item>it is the value's <see cref="NamespaceOptions.PromoteAfterHits"/>-th recent SSD hit (<see cref="PromotionFilter"/>);</item>
/// <item>the value was read at least <see cref="NamespaceOptions.PromoteFrequencyRatio"/> times as often lately as the
/// oldest value in RAM, the one it would push out (<see cref="AccessSketch"/>, <see cref="RamResidents"/>);
/// under uniform reads no value is, and promotion stops;</item>
/// <item>the write budget allows it (<see cref="PromotionBudget"/>).</item>
/// </list>
/// </summary>
internal sealed class PromotionPolicy
{
    private readonly NamespaceOptions _policy;
    private readonly PromotionFilter _recentSsdHits = new(1 << 16);
    private readonly PromotionBudget _budget;
    private readonly AccessSketch? _reads;
    private readonly RamResidents _residents = new();

    public PromotionPolicy(NamespaceOptions policy)
    {
        _policy = policy;
        // A burst of at most an eighth of the RAM tier: unspent budget is not saved up for a flood of promotions.
        _budget = new PromotionBudget(policy.PromoteBudget, policy.RamBytes.Bytes / 8);
        if (policy.IsPromoteOnHit && policy.PromoteFrequencyRatio > 0)
        {
            // Sized by the values of typical size the tiers hold: counters for four times the SSD tier's, and a
            // sample of 64 reads per value the RAM tier holds, so that under uniform reads a value's count is
            // around 64 x RAM / working set and two equally read values rarely differ by the ratio.
            long typical = Math.Max(4096, policy.ReadHintBytes.Bytes);
            long ssdValues = Math.Max(1, policy.SsdBytes.Bytes / typical);
            int width = (int)Math.Clamp(BitOperations.RoundUpToPowerOf2((ulong)(4 * ssdValues)), 1024UL, 1UL << 20);
            long ramValues = Math.Max(64, policy.RamBytes.Bytes / typical);
            _reads = new AccessSketch(width, 64 * ramValues);
        }
    }

    internal static ulong Hash(ReadOnlySpan<byte> userKey) => XxHash3.HashToUInt64(userKey);

    /// <summary>Whether a read of this key, if it turns out to be an SSD hit, should promote it.</summary>
    public bool ShouldPromote(byte[] userKey, long headAddress)
    {
        if (!_policy.IsPromoteOnHit || !_budget.Allows) return false;
        if (_policy.PromoteAfterHits > 1 && !_recentSsdHits.Contains(userKey)) return false;
        if (_reads is null || !_residents.TryGetVictim(headAddress, out ulong victim)) return true;
        // This read is not counted yet, hence the + 1; a victim never read loses to any candidate.
        return _reads.Estimate(Hash(userKey)) + 1 > _policy.PromoteFrequencyRatio * _reads.Estimate(victim);
    }

    /// <summary>Accounts a hit: its read, and for an SSD hit the budget and the recent-hit table.</summary>
    public void NoteRead(byte[] userKey, Tier tier, bool promoted, long bytes, long tailAddress, long headAddress)
    {
        if (!_policy.IsPromoteOnHit) return;
        ulong hash = Hash(userKey);
        _reads?.Increment(hash);
        if (tier != Tier.Ssd) return;
        _budget.Note(bytes, promoted);
        if (promoted)
        {
            _recentSsdHits.Forget(userKey);
            if (_reads is not null) _residents.Appended(hash, tailAddress, headAddress);
        }
        else _recentSsdHits.Remember(userKey);
    }

    /// <summary>Accounts a value written at the tail (its root record, the last of its records).</summary>
    public void NoteAppended(byte[] userKey, long tailAddress, long headAddress)
    {
        if (_reads is not null) _residents.Appended(Hash(userKey), tailAddress, headAddress);
    }
}
