using System;
using System.Collections.Generic;
using UnityEngine;
using UnityEngine.AI;
using Worldline.V1;

namespace Worldline.Client.Unity
{
    /// <summary>How world coordinates map onto Unity's axes (Unity is y-up; a 2D world's plane is usually x/z).</summary>
    public enum AxisMapping
    {
        /// <summary>World (x, y, z) is Unity (x, y, z).</summary>
        Identity,
        /// <summary>World (x, y) is the Unity ground plane (x, z); world z is Unity height (y).</summary>
        GroundPlaneXZ,
    }

    /// <summary>
    /// The thin Unity wrapper around <see cref="WorldlineClient"/>: builds it from inspector fields, pumps it from
    /// Update (so every event arrives on the main thread), and in the engine role sends a TimeTick each FixedUpdate,
    /// reports tracked entities' positions, and carries out MoveCommands. The only file of the package that uses
    /// UnityEngine besides WorldlineEntity.cs (Unity needs each component in a file of its name).
    /// </summary>
    [DisallowMultipleComponent]
    public sealed class WorldlineBehaviour : MonoBehaviour
    {
        [Header("Connection")]
        [Tooltip("ws://host:port of the Worldline server (wss:// in production)")]
        public string serverUrl = "ws://127.0.0.1:8080";
        public string worldId = "default";
        [Tooltip("JWT or static token; its role (agent, engine, viewer) decides what this client may do")]
        public string token = "";
        [Tooltip("Send the token in the query string instead of Hello (forced on WebGL: browsers cannot set headers)")]
        public bool tokenInQueryString;
        [Tooltip("The agent to act as, or whose view to stream (needed unless the token names one); empty for the engine (actAsEngine)")]
        public string agentId = "";
        public WorldlineRole role = WorldlineRole.Agent;
        public bool connectOnStart = true;
        [Tooltip("Check each view against its context_digest (slow; for debugging)")]
        public bool verifyDigests;
        public bool logToConsole = true;

        [Header("Engine role")]
        [Tooltip("Send a TimeTick every FixedUpdate and report tracked entities (engine role only)")]
        public bool actAsEngine;
        [Tooltip("Report positions every N FixedUpdates (the server allows 200 frames per second per connection by default)")]
        [Min(1)] public int reportPositionsEvery = 1;
        [Tooltip("Move tracked entities toward MoveCommand targets (NavMeshAgent when use_pathfinding is set)")]
        public bool applyMoveCommands = true;
        [Tooltip("Speed for MoveCommands that give none (units per second)")]
        public float defaultSpeed = 3f;
        public AxisMapping axes = AxisMapping.GroundPlaneXZ;

        /// <summary>
        /// Set before Start on WebGL: a transport over the browser's WebSocket (a .jslib plugin). Elsewhere null means
        /// System.Net.WebSockets.
        /// </summary>
        public Func<IWorldlineTransport> TransportFactory;

        /// <summary>The client; null before Awake.</summary>
        public WorldlineClient Client { get; private set; }

        /// <summary>Engine ticks sent so far (the sim_time of the last TimeTick).</summary>
        public ulong SimTime { get; private set; }

        readonly Dictionary<string, Tracked> tracked = new Dictionary<string, Tracked>();
        readonly List<EntityPosition> positionBuffer = new List<EntityPosition>();

        sealed class Tracked
        {
            public Transform Transform;
            public Rigidbody Body;
            public NavMeshAgent Nav;
            public bool Moving;
            public Vector3 Target;
            public float Speed;
        }

        void Awake()
        {
            var options = new WorldlineClientOptions
            {
                ServerUrl = new Uri(serverUrl),
                WorldId = worldId,
                Token = token ?? "",
                TokenPlacement = tokenInQueryString ? TokenPlacement.QueryString : TokenPlacement.Hello,
                AgentId = agentId ?? "",
                Role = actAsEngine ? WorldlineRole.Engine : role,
                ClientVersion = "worldline-unity/0.1.0 unity/" + Application.unityVersion,
                VerifyDigests = verifyDigests,
                TransportFactory = TransportFactory,
            };
#if UNITY_WEBGL && !UNITY_EDITOR
            options.TokenPlacement = TokenPlacement.QueryString;
            if (TransportFactory == null) Debug.LogError("Worldline: WebGL needs a browser WebSocket transport; set WorldlineBehaviour.TransportFactory before Start (see the package README)");
#endif
            Client = new WorldlineClient(options);
            if (logToConsole)
            {
                Client.Log += m => Debug.Log("Worldline: " + m);
                Client.ErrorReceived += e => Debug.LogWarning("Worldline error " + e);
                Client.Disconnected += (code, reason, again) => Debug.Log("Worldline: disconnected (" + code + " " + reason + ")" + (again ? ", reconnecting" : ""));
            }
            Client.MoveCommandReceived += OnMoveCommand;
        }

        void Start()
        {
            if (connectOnStart) Client.Connect();
        }

        void Update()
        {
            // Raises every queued socket event here, on the main thread.
            Client.Update();
        }

        void FixedUpdate()
        {
            if (!actAsEngine) return;
            if (applyMoveCommands) StepMoves(Time.fixedDeltaTime);
            if (!Client.IsReady) return;
            SimTime++;
            // frame_number must increase with every TimeTick (the server refuses a repeated one with INVALID_INTENT and
            // the world skips that step). Time.frameCount does not: Unity runs FixedUpdate several times in one rendered
            // frame whenever a frame takes longer than the fixed step. The step count does.
            ulong frame = SimTime;
            Client.SendTimeTick(SimTime, Time.fixedDeltaTime, frame);
            if (tracked.Count > 0 && SimTime % (ulong)Math.Max(1, reportPositionsEvery) == 0) ReportPositions(frame);
        }

        void OnDestroy()
        {
            if (Client != null) Client.Dispose();
        }

        // ---------------------------------------------------------------------------------------------------------
        // Engine role
        // ---------------------------------------------------------------------------------------------------------

        /// <summary>Reports this object's position as <paramref name="entityId"/> and lets MoveCommands move it.</summary>
        public void Track(string entityId, Transform target)
        {
            if (string.IsNullOrEmpty(entityId) || target == null) return;
            tracked[entityId] = new Tracked
            {
                Transform = target,
                Body = target.GetComponent<Rigidbody>(),
                Nav = target.GetComponent<NavMeshAgent>(),
            };
        }

        public void Untrack(string entityId) { tracked.Remove(entityId); }

        /// <summary>Sends a CollisionEvent for a physics contact between two tracked entities.</summary>
        public void ReportCollision(string entityA, string entityB, Collision collision)
        {
            if (!actAsEngine || collision == null) return;
            Vector3 point = collision.contactCount > 0 ? collision.GetContact(0).point : collision.transform.position;
            Vector3 normal = collision.contactCount > 0 ? collision.GetContact(0).normal : Vector3.zero;
            // Impulse over the step is the force the physics engine applied.
            double force = collision.impulse.magnitude / Math.Max(Time.fixedDeltaTime, 1e-6f);
            Client.SendCollision(entityA, entityB, force, ToWorld(point), ToWorld(normal));
        }

        void ReportPositions(ulong frame)
        {
            positionBuffer.Clear();
            foreach (var kv in tracked)
            {
                if (kv.Value.Transform == null) continue;
                Vec3 velocity = kv.Value.Body != null ? ToWorld(kv.Value.Body.velocity) : null;
                positionBuffer.Add(WorldlineClient.Position(kv.Key, ToWorld(kv.Value.Transform.position), velocity));
            }
            Client.SendPositions(frame, positionBuffer);
        }

        void OnMoveCommand(MoveCommand cmd)
        {
            Tracked t;
            if (!applyMoveCommands || !tracked.TryGetValue(cmd.EntityId, out t) || t.Transform == null) return;
            Vector3 target = ToUnity(cmd.TargetPosition);
            float speed = cmd.Speed > 0 ? (float)cmd.Speed : defaultSpeed;
            if (cmd.UsePathfinding && t.Nav != null && t.Nav.isOnNavMesh)
            {
                t.Nav.speed = speed;
                t.Nav.SetDestination(target);
                t.Moving = false;
                return;
            }
            t.Target = target;
            t.Speed = speed;
            t.Moving = true;
        }

        void StepMoves(float dt)
        {
            foreach (var t in tracked.Values)
            {
                if (!t.Moving || t.Transform == null) continue;
                Vector3 from = t.Body != null ? t.Body.position : t.Transform.position;
                Vector3 next = Vector3.MoveTowards(from, t.Target, t.Speed * dt);
                if (t.Body != null && !t.Body.isKinematic) t.Body.MovePosition(next);
                else t.Transform.position = next;
                if ((next - t.Target).sqrMagnitude < 1e-6f) t.Moving = false;
            }
        }

        /// <summary>A Unity position as a world Vec3, per <see cref="axes"/>.</summary>
        public Vec3 ToWorld(Vector3 v)
        {
            return axes == AxisMapping.GroundPlaneXZ ? WorldlineClient.Vec(v.x, v.z, v.y) : WorldlineClient.Vec(v.x, v.y, v.z);
        }

        /// <summary>A world Vec3 as a Unity position, per <see cref="axes"/>.</summary>
        public Vector3 ToUnity(Vec3 v)
        {
            if (v == null) return Vector3.zero;
            return axes == AxisMapping.GroundPlaneXZ ? new Vector3((float)v.X, (float)v.Z, (float)v.Y) : new Vector3((float)v.X, (float)v.Y, (float)v.Z);
        }
    }
}
