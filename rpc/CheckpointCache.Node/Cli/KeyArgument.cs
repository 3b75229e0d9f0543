using System.Text;

namespace CheckpointCache.Node.Cli;

/// <summary>A KEY argument: "hex:0a1b..." or "0x0a1b..." is raw bytes, anything else is its UTF-8 text.</summary>
internal static class KeyArgument
{
    public const string Help = "KEY is text (used as UTF-8 bytes) or raw bytes written hex:0a1b... or 0x0a1b...";

    public static byte[] Parse(string text)
    {
        foreach (var prefix in new[] { "hex:", "0x" })
            if (text.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                try { return Convert.FromHexString(text[prefix.Length..]); }
                catch (FormatException) { throw new CliException($"'{text}' is not valid hex"); }
            }
        return Encoding.UTF8.GetBytes(text);
    }
}
