// COMPILE-ONLY SURFACE, NEVER RUN. Google.Protobuf is not packaged for Debian, so build-check.sh type-checks
// Runtime/Generated/Worldline.cs and Runtime/Client/*.cs against these signatures, copied from the Google.Protobuf
// 3.21 public API (only the members the generated code, compiled with GOOGLE_PROTOBUF_REFSTRUCT_COMPATIBILITY_MODE
// because mcs has no ref structs, and the client use). Every body throws. It catches misspelt names and type errors
// in the client; it proves nothing about runtime behaviour, and a signature wrong here would hide a real error.
// Unity never compiles this folder (Tests asmdef defineConstraints).
#pragma warning disable 1591
using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;

namespace Google.Protobuf
{
    public interface IMessage
    {
        void MergeFrom(CodedInputStream input);
        void WriteTo(CodedOutputStream output);
        int CalculateSize();
        Reflection.MessageDescriptor Descriptor { get; }
    }

    public interface IDeepCloneable<T> { T Clone(); }

    public interface IMessage<T> : IMessage, IEquatable<T>, IDeepCloneable<T> where T : IMessage<T>
    {
        void MergeFrom(T message);
    }

    public class MessageParser
    {
        internal MessageParser() { }
    }

    public sealed class MessageParser<T> : MessageParser where T : IMessage<T>
    {
        public MessageParser(Func<T> factory) { }
        public T ParseFrom(byte[] data) { throw new NotImplementedException(); }
    }

    public sealed class InvalidProtocolBufferException : IOException
    {
        InvalidProtocolBufferException(string message) : base(message) { }
    }

    public sealed class UnknownFieldSet
    {
        public static UnknownFieldSet Clone(UnknownFieldSet other) { throw new NotImplementedException(); }
        public static UnknownFieldSet MergeFrom(UnknownFieldSet unknownFields, UnknownFieldSet other) { throw new NotImplementedException(); }
        public static UnknownFieldSet MergeFieldFrom(UnknownFieldSet unknownFields, CodedInputStream input) { throw new NotImplementedException(); }
        public void WriteTo(CodedOutputStream output) { throw new NotImplementedException(); }
        public int CalculateSize() { throw new NotImplementedException(); }
    }

    public static class ProtoPreconditions
    {
        public static T CheckNotNull<T>(T value, string name) where T : class { throw new NotImplementedException(); }
    }

    public sealed class ByteString : IEnumerable<byte>, IEquatable<ByteString>
    {
        ByteString() { }
        public static ByteString Empty { get { throw new NotImplementedException(); } }
        public int Length { get { throw new NotImplementedException(); } }
        public bool IsEmpty { get { throw new NotImplementedException(); } }
        public static ByteString CopyFrom(params byte[] bytes) { throw new NotImplementedException(); }
        public static ByteString CopyFromUtf8(string text) { throw new NotImplementedException(); }
        public byte[] ToByteArray() { throw new NotImplementedException(); }
        public string ToStringUtf8() { throw new NotImplementedException(); }
        public bool Equals(ByteString other) { throw new NotImplementedException(); }
        public override bool Equals(object obj) { throw new NotImplementedException(); }
        public override int GetHashCode() { throw new NotImplementedException(); }
        public static bool operator ==(ByteString lhs, ByteString rhs) { throw new NotImplementedException(); }
        public static bool operator !=(ByteString lhs, ByteString rhs) { throw new NotImplementedException(); }
        public IEnumerator<byte> GetEnumerator() { throw new NotImplementedException(); }
        IEnumerator IEnumerable.GetEnumerator() { throw new NotImplementedException(); }
    }

    public sealed class CodedOutputStream
    {
        public static int ComputeMessageSize(IMessage value) { throw new NotImplementedException(); }
        public static int ComputeStringSize(string value) { throw new NotImplementedException(); }
        public static int ComputeBytesSize(ByteString value) { throw new NotImplementedException(); }
        public static int ComputeUInt64Size(ulong value) { throw new NotImplementedException(); }
        public static int ComputeUInt32Size(uint value) { throw new NotImplementedException(); }
        public static int ComputeEnumSize(int value) { throw new NotImplementedException(); }
        public static int ComputeSInt32Size(int value) { throw new NotImplementedException(); }
        public void WriteRawTag(byte b1) { throw new NotImplementedException(); }
        public void WriteRawTag(byte b1, byte b2) { throw new NotImplementedException(); }
        public void WriteMessage(IMessage value) { throw new NotImplementedException(); }
        public void WriteString(string value) { throw new NotImplementedException(); }
        public void WriteBytes(ByteString value) { throw new NotImplementedException(); }
        public void WriteUInt64(ulong value) { throw new NotImplementedException(); }
        public void WriteUInt32(uint value) { throw new NotImplementedException(); }
        public void WriteDouble(double value) { throw new NotImplementedException(); }
        public void WriteEnum(int value) { throw new NotImplementedException(); }
        public void WriteSInt32(int value) { throw new NotImplementedException(); }
        public void WriteBool(bool value) { throw new NotImplementedException(); }
    }

    public sealed class CodedInputStream
    {
        public uint ReadTag() { throw new NotImplementedException(); }
        public void ReadMessage(IMessage builder) { throw new NotImplementedException(); }
        public string ReadString() { throw new NotImplementedException(); }
        public ByteString ReadBytes() { throw new NotImplementedException(); }
        public ulong ReadUInt64() { throw new NotImplementedException(); }
        public uint ReadUInt32() { throw new NotImplementedException(); }
        public double ReadDouble() { throw new NotImplementedException(); }
        public int ReadEnum() { throw new NotImplementedException(); }
        public int ReadSInt32() { throw new NotImplementedException(); }
        public bool ReadBool() { throw new NotImplementedException(); }
    }

    public static class JsonFormatter
    {
        public static string ToDiagnosticString(IMessage message) { throw new NotImplementedException(); }
    }

    public sealed class FieldCodec<T>
    {
        internal FieldCodec() { }
    }

    public static class FieldCodec
    {
        public static FieldCodec<T> ForMessage<T>(uint tag, MessageParser<T> parser) where T : class, IMessage<T> { throw new NotImplementedException(); }
    }

    public static class MessageExtensions
    {
        public static byte[] ToByteArray(this IMessage message) { throw new NotImplementedException(); }
        public static void MergeFrom(this IMessage message, byte[] data) { throw new NotImplementedException(); }
    }
}

namespace Google.Protobuf.Collections
{
    public sealed class RepeatedField<T> : IList<T>, IEquatable<RepeatedField<T>>
    {
        public RepeatedField<T> Clone() { throw new NotImplementedException(); }
        public void AddEntriesFrom(CodedInputStream input, FieldCodec<T> codec) { throw new NotImplementedException(); }
        public int CalculateSize(FieldCodec<T> codec) { throw new NotImplementedException(); }
        public void WriteTo(CodedOutputStream output, FieldCodec<T> codec) { throw new NotImplementedException(); }
        public void Add(T item) { throw new NotImplementedException(); }
        public void Add(IEnumerable<T> values) { throw new NotImplementedException(); }
        public void Clear() { throw new NotImplementedException(); }
        public bool Contains(T item) { throw new NotImplementedException(); }
        public void CopyTo(T[] array, int arrayIndex) { throw new NotImplementedException(); }
        public bool Remove(T item) { throw new NotImplementedException(); }
        public int Count { get { throw new NotImplementedException(); } }
        public bool IsReadOnly { get { throw new NotImplementedException(); } }
        public int IndexOf(T item) { throw new NotImplementedException(); }
        public void Insert(int index, T item) { throw new NotImplementedException(); }
        public void RemoveAt(int index) { throw new NotImplementedException(); }
        public T this[int index] { get { throw new NotImplementedException(); } set { throw new NotImplementedException(); } }
        public bool Equals(RepeatedField<T> other) { throw new NotImplementedException(); }
        public IEnumerator<T> GetEnumerator() { throw new NotImplementedException(); }
        IEnumerator IEnumerable.GetEnumerator() { throw new NotImplementedException(); }
    }

    public static class ProtobufEqualityComparers
    {
        public static EqualityComparer<double> BitwiseDoubleEqualityComparer { get { throw new NotImplementedException(); } }
    }
}

namespace Google.Protobuf.Reflection
{
    [AttributeUsage(AttributeTargets.Field)]
    public class OriginalNameAttribute : Attribute
    {
        public OriginalNameAttribute(string name) { }
        public bool PreferredAlias { get; set; }
    }

    public sealed class MessageDescriptor { }

    public sealed class FileDescriptor
    {
        public IList<MessageDescriptor> MessageTypes { get { throw new NotImplementedException(); } }
        public static FileDescriptor FromGeneratedCode(byte[] descriptorData, FileDescriptor[] dependencies, GeneratedClrTypeInfo generatedCodeInfo) { throw new NotImplementedException(); }
    }

    public sealed class Extension { }

    public sealed class GeneratedClrTypeInfo
    {
        public GeneratedClrTypeInfo(Type clrType, MessageParser parser, string[] propertyNames, string[] oneofNames, Type[] nestedEnums, Extension[] extensions, GeneratedClrTypeInfo[] nestedTypes) { }
        public GeneratedClrTypeInfo(Type[] nestedEnums, Extension[] extensions, GeneratedClrTypeInfo[] nestedTypes) { }
    }
}
