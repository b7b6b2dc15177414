// Feature registry for the room page: stage and interaction modules plug in here.
//
// A feature is an object with optional hooks:
//   onJoined(message, api)   — after `joined` (late-joiner state arrives in its fields)
//   onMessage(message, api)  — any server message; return true when it was handled
//   onPresence(message, api) — after a presence change
//   decorateParticipant(li, p, api) — add badges/actions to a person in "In the room"
//   onLeft(api)              — the socket closed or the member left
// `api` gives: send(message) -> bool, nextRef(kind), you(), participants() (Map id -> p),
// isHost(), notice(text), renderParticipants().

// The roles that moderate a room (the server's server/rooms/moderation.py MODERATORS):
// they see the host controls, tiers and scores.
export const MODERATORS = new Set(['host', 'cohost']);

export const features = [];

export function registerFeature(feature) {
  features.push(feature);
}

export function callFeatures(hook, ...args) {
  let handled = false;
  for (const feature of features) {
    const fn = feature[hook];
    if (typeof fn !== 'function') continue;
    try {
      if (fn.apply(feature, args) === true) handled = true;
    } catch (err) {
      console.error(`feature hook ${hook} failed`, err);
    }
  }
  return handled;
}
