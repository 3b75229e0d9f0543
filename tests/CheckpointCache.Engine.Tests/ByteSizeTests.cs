using System.ComponentModel;
using CheckpointCache.Engine.Options;

namespace CheckpointCache.Engine.Tests;

public sealed class ByteSizeTests
{
    [Theory]
    [InlineData("4096", 4096L)]
    [InlineData("512KiB", 512L * 1024)]
    [InlineData("64m", 64L << 20)]
    [InlineData("8 GiB", 8L << 30)]
    [InlineData("1.5g", 3L << 29)]
    [InlineData("2TiB", 2L << 40)]
    public void Parses_what_operators_write(string text, long bytes)
    {
        Assert.Equal(bytes, ByteSize.Parse(text).Bytes);
        Assert.Equal(bytes, ((ByteSize)TypeDescriptor.GetConverter(typeof(ByteSize)).ConvertFromInvariantString(text)!).Bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("lots")]
    [InlineData("12 parsecs")]
    public void Rejects_nonsense_with_an_example(string text)
    {
        var ex = Assert.Throws<FormatException>(() => ByteSize.Parse(text));
        Assert.Contains("64MiB", ex.Message);
    }
}
