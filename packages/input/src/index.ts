/**
 * @packageDocumentation
 * @vmv/input: virtio-input (VIRTIO 1.2 §5.8), a keyboard, mouse, tablet, touchscreen or any
 * evdev-shaped device whose events come from the host program. Pure TypeScript, zero runtime
 * dependencies outside @vmv: served in process by @vmv/transport-mmio or out of process by
 * @vmv/vhost-user (the `vmv-vhost-user-input` daemon).
 */
export { InputDevice } from './device.js';
export type { InputDeviceOptions, InputStats } from './device.js';
export { EventQueue } from './event-queue.js';
export type { EventQueueStats, InputEvent } from './event-queue.js';
export { validateDescription } from './description.js';
export type { AbsInfo, DeviceIds, InputDescription, ValidDescription } from './description.js';
export { InputConfig, configAnswers } from './config.js';
export { ABS_MAX, PRESETS, TOUCH_SLOTS, keyboard, mouse, tablet, touchscreen } from './presets.js';
export type { PresetName, PresetOptions } from './presets.js';
export { encodeEvent, decodeEvent } from './wire.js';
export {
  ABSINFO_SIZE, Abs, Btn, Bus, CODE_COUNT, ConfigLayout, ConfigSelect, DEVIDS_SIZE, EVENT_SIZE, EVENT_TYPE_NAMES, EventType,
  InputProp, InputQueue, Key, Led, Msc, PROP_COUNT, Rel, Rep, Syn,
} from './constants.js';
export type { ConfigSelectValue } from './constants.js';
export { INPUT_ERROR_NAMES, InputError, InvalidDescriptionError, isInputError } from './errors.js';
export type { InputErrorName } from './errors.js';
