using CheckpointCache.Node.Options;
using Google.Protobuf;

namespace CheckpointCache.Node;

/// <summary>The per-key limits, phrased so the message names the limit and the key's position.</summary>
internal static class KeyCheck
{
    /// <summary>Null when the key is acceptable, else why not.</summary>
    public static string? Problem(ByteString key, int index, LimitsOptions limits) => Problem(key.Length, index, limits);

    public static string? Problem(int keyLength, int index, LimitsOptions limits)
    {
        if (keyLength == 0) return $"key {index} is empty; keys are 1 to Limits:MaxKeyBytes ({limits.MaxKeyBytes}) bytes";
        if (keyLength > limits.MaxKeyBytes) return $"key {index} is {keyLength} bytes, over Limits:MaxKeyBytes ({limits.MaxKeyBytes})";
        return null;
    }

    /// <summary>For calls whose answer has no per-key status: any bad key fails the whole call.</summary>
    public static void RequireAll(IReadOnlyList<ByteString> keys, LimitsOptions limits)
    {
        if (keys.Count > limits.MaxBatchKeys)
            throw RpcErrors.ResourceExhausted($"{keys.Count} keys in one call, over Limits:MaxBatchKeys ({limits.MaxBatchKeys})");
        for (int i = 0; i < keys.Count; i++)
            if (Problem(keys[i], i, limits) is { } problem) throw RpcErrors.InvalidArgument(problem);
    }
}
