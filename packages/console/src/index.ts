/**
 * @packageDocumentation
 * virtio-console (VIRTIO 1.2 §5.3) for @vmv: a transport-independent {@link ConsoleDevice} with
 * port 0 and, with VIRTIO_CONSOLE_F_MULTIPORT, named ports and the control protocol as Linux's
 * driver speaks it; console size (F_SIZE) and emergency write (F_EMERG_WRITE). Each port's host
 * end is a {@link ConsolePort} with flow control both ways. Node streams, TCP and unix sockets
 * and the terminal plug into ports through `@vmv/console/node`.
 */
export { ConsoleDevice } from './device.js';
export type { ConsoleDeviceOptions, ConsoleEvent } from './device.js';
export { ConsolePort } from './port.js';
export type { ConsolePortOptions, PortEndpoint } from './port.js';
export {
  BAD_ID,
  CONSOLE_CONFIG_SIZE,
  CONTROL_HEADER_SIZE,
  ConsoleConfigOffset,
  ConsoleFeature,
  ControlEvent,
  controlEventName,
  decodeControl,
  encodeControl,
  encodeResize,
  portOfQueue,
  receiveQueueOf,
} from './wire.js';
export type { ConsoleFeature as ConsoleFeatureBit, ConsoleSize, ControlDecoded, ControlEvent as ControlEventValue, ControlMessage } from './wire.js';
