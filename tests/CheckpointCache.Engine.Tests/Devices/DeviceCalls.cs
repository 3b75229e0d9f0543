using FASTER.core;

namespace CheckpointCache.Engine.Tests.Devices;

/// <summary>Awaitable wrappers over a device's callback API.</summary>
internal static class DeviceCalls
{
    // A hang detector, not a performance bound: one small I/O never legitimately takes this long.
    private static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(2);

    public static Task<(uint Error, uint Bytes)> ReadAsync(IDevice device, int segment, ulong offset, nint buffer, uint length)
    {
        var done = new TaskCompletionSource<(uint, uint)>(TaskCreationOptions.RunContinuationsAsynchronously);
        device.ReadAsync(segment, offset, buffer, length, (err, n, _) => done.TrySetResult((err, n)), null);
        return done.Task.WaitAsync(HangGuard);
    }

    public static Task<(uint Error, uint Bytes)> WriteAsync(IDevice device, int segment, ulong offset, nint buffer, uint length)
    {
        var done = new TaskCompletionSource<(uint, uint)>(TaskCreationOptions.RunContinuationsAsynchronously);
        device.WriteAsync(buffer, segment, offset, length, (err, n, _) => done.TrySetResult((err, n)), null);
        return done.Task.WaitAsync(HangGuard);
    }

    public static Task RemoveSegmentAsync(IDevice device, int segment)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        device.RemoveSegmentAsync(segment, _ => done.TrySetResult(), null);
        return done.Task.WaitAsync(HangGuard);
    }
}
