using UnityEngine;

namespace Worldline.Client.Unity
{
    /// <summary>
    /// Put on a GameObject that is a world entity: registers it with the scene's <see cref="WorldlineBehaviour"/>
    /// (engine role) and reports its collisions with other entities.
    /// </summary>
    public sealed class WorldlineEntity : MonoBehaviour
    {
        public string entityId = "";
        public WorldlineBehaviour worldline;

        void Start()
        {
            if (worldline == null) worldline = FindObjectOfType<WorldlineBehaviour>();
            if (worldline != null) worldline.Track(entityId, transform);
        }

        void OnDestroy()
        {
            if (worldline != null) worldline.Untrack(entityId);
        }

        void OnCollisionEnter(Collision collision)
        {
            var other = collision.gameObject.GetComponent<WorldlineEntity>();
            // Each pair is reported once, by the entity whose id sorts first.
            if (worldline == null || other == null || string.CompareOrdinal(entityId, other.entityId) >= 0) return;
            worldline.ReportCollision(entityId, other.entityId, collision);
        }
    }
}
