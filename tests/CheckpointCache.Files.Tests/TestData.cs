namespace CheckpointCache.Files.Tests;

public static class TestData
{
    public static byte[] Random(int seed, int length)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
