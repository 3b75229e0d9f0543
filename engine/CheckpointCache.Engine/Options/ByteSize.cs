using System.ComponentModel;
using System.Globalization;

namespace CheckpointCache.Engine.Options;

/// <summary>
/// A size in bytes that configuration can write as "512MiB", "8GiB", "64m" or a plain number,
/// because budgets written as raw byte counts are where operators make mistakes.
/// </summary>
[TypeConverter(typeof(ByteSizeConverter))]
public readonly record struct ByteSize(long Bytes) : IComparable<ByteSize>
{
    public const long KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB, TiB = 1024 * GiB;

    public static ByteSize FromMiB(long n) => new(n * MiB);
    public static ByteSize FromGiB(long n) => new(n * GiB);

    public static ByteSize Parse(string text)
    {
        if (!TryParse(text, out var size))
            throw new FormatException($"'{text}' is not a size; write e.g. 4096, 512KiB, 64MiB, 8GiB or 1TiB");
        return size;
    }

    public static bool TryParse(string? text, out ByteSize size)
    {
        size = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var s = text.Trim();
        int i = 0;
        while (i < s.Length && (char.IsDigit(s[i]) || s[i] == '.')) i++;
        if (i == 0) return false;
        if (!double.TryParse(s.AsSpan(0, i), NumberStyles.Float, CultureInfo.InvariantCulture, out var number)) return false;
        long unit = s[i..].Trim().ToLowerInvariant() switch
        {
            "" or "b" => 1,
            "k" or "kb" or "kib" => KiB,
            "m" or "mb" or "mib" => MiB,
            "g" or "gb" or "gib" => GiB,
            "t" or "tb" or "tib" => TiB,
            _ => -1,
        };
        if (unit < 0) return false;
        size = new ByteSize((long)(number * unit));
        return true;
    }

    public int CompareTo(ByteSize other) => Bytes.CompareTo(other.Bytes);

    public override string ToString()
    {
        if (Bytes != 0 && Bytes % GiB == 0) return $"{Bytes / GiB}GiB";
        if (Bytes != 0 && Bytes % MiB == 0) return $"{Bytes / MiB}MiB";
        if (Bytes != 0 && Bytes % KiB == 0) return $"{Bytes / KiB}KiB";
        return Bytes.ToString(CultureInfo.InvariantCulture);
    }

    public static implicit operator long(ByteSize size) => size.Bytes;
}

public sealed class ByteSizeConverter : TypeConverter
{
    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType)
        => sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value)
        => value is string s ? ByteSize.Parse(s) : base.ConvertFrom(context, culture, value);

    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType)
        => destinationType == typeof(string) && value is ByteSize b ? b.ToString() : base.ConvertTo(context, culture, value, destinationType);
}
