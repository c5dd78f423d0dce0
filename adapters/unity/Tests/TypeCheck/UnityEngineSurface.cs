// COMPILE-ONLY SURFACE, NEVER RUN. UnityEngine is not available outside Unity, so build-check.sh type-checks
// Runtime/Unity/*.cs against these signatures, copied from the UnityEngine 2021.3 scripting API (only the members
// the wrapper uses). Every body throws. It catches misspelt names and type errors; it proves nothing about how the
// wrapper behaves in a player, and a signature wrong here would hide a real error.
// Unity never compiles this folder (Tests asmdef defineConstraints).
#pragma warning disable 1591
using System;

namespace UnityEngine
{
    public class Object
    {
        public static T FindObjectOfType<T>() where T : Object { throw new NotImplementedException(); }
    }

    public class Component : Object
    {
        public Transform transform { get { throw new NotImplementedException(); } }
        public GameObject gameObject { get { throw new NotImplementedException(); } }
        public T GetComponent<T>() { throw new NotImplementedException(); }
    }

    public class Behaviour : Component { }
    public class MonoBehaviour : Behaviour { }

    public sealed class GameObject : Object
    {
        public T GetComponent<T>() { throw new NotImplementedException(); }
    }

    public class Transform : Component
    {
        public Vector3 position { get { throw new NotImplementedException(); } set { throw new NotImplementedException(); } }
    }

    public sealed class Rigidbody : Component
    {
        public Vector3 position { get { throw new NotImplementedException(); } set { throw new NotImplementedException(); } }
        public Vector3 velocity { get { throw new NotImplementedException(); } set { throw new NotImplementedException(); } }
        public bool isKinematic { get { throw new NotImplementedException(); } set { throw new NotImplementedException(); } }
        public void MovePosition(Vector3 position) { throw new NotImplementedException(); }
    }

    public struct ContactPoint
    {
        public Vector3 point { get { throw new NotImplementedException(); } }
        public Vector3 normal { get { throw new NotImplementedException(); } }
    }

    public class Collision
    {
        public int contactCount { get { throw new NotImplementedException(); } }
        public ContactPoint GetContact(int index) { throw new NotImplementedException(); }
        public Vector3 impulse { get { throw new NotImplementedException(); } }
        public Transform transform { get { throw new NotImplementedException(); } }
        public GameObject gameObject { get { throw new NotImplementedException(); } }
    }

    public struct Vector3
    {
        public float x, y, z;
        public Vector3(float x, float y, float z) { this.x = x; this.y = y; this.z = z; }
        public static Vector3 zero { get { throw new NotImplementedException(); } }
        public float magnitude { get { throw new NotImplementedException(); } }
        public float sqrMagnitude { get { throw new NotImplementedException(); } }
        public static Vector3 MoveTowards(Vector3 current, Vector3 target, float maxDistanceDelta) { throw new NotImplementedException(); }
        public static Vector3 operator -(Vector3 a, Vector3 b) { throw new NotImplementedException(); }
    }

    public static class Time
    {
        public static float fixedDeltaTime { get { throw new NotImplementedException(); } }
        public static int frameCount { get { throw new NotImplementedException(); } }
    }

    public static class Debug
    {
        public static void Log(object message) { throw new NotImplementedException(); }
        public static void LogWarning(object message) { throw new NotImplementedException(); }
        public static void LogError(object message) { throw new NotImplementedException(); }
    }

    public static class Application
    {
        public static string unityVersion { get { throw new NotImplementedException(); } }
    }

    public class PropertyAttribute : Attribute { }
    public sealed class HeaderAttribute : PropertyAttribute { public HeaderAttribute(string header) { } }
    public sealed class TooltipAttribute : PropertyAttribute { public TooltipAttribute(string tooltip) { } }
    public sealed class MinAttribute : PropertyAttribute { public MinAttribute(float min) { } }
    public sealed class DisallowMultipleComponent : Attribute { }
}

namespace UnityEngine.AI
{
    public sealed class NavMeshAgent : Behaviour
    {
        public float speed { get { throw new NotImplementedException(); } set { throw new NotImplementedException(); } }
        public bool isOnNavMesh { get { throw new NotImplementedException(); } }
        public bool SetDestination(Vector3 target) { throw new NotImplementedException(); }
    }
}
