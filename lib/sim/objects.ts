// main.c in the simulator: the per-iommufd object table (an xarray with
// XA_FLAGS_ALLOC1: the lowest free id from 1), typed lookup that answers
// ENOENT for a missing id or one of another type, and the `users` refcount
// that makes IOMMU_DESTROY answer EBUSY while anything else holds the object.

export const enum ObjType {
  DEVICE = 'DEVICE',
  HWPT_PAGING = 'HWPT_PAGING',
  HWPT_NESTED = 'HWPT_NESTED',
  IOAS = 'IOAS',
  ACCESS = 'ACCESS',
  FAULT = 'FAULT',
  SELFTEST = 'SELFTEST',
  VIOMMU = 'VIOMMU',
  VDEVICE = 'VDEVICE',
  VEVENTQ = 'VEVENTQ',
  HW_QUEUE = 'HW_QUEUE',
}

export abstract class SimObject {
  abstract readonly type: ObjType;
  id = 0;
  /** refcount users: 1 for the table, plus one per holder. */
  users = 1;
  /** iommufd_object_finalize() done: until then the id is reserved but lookups miss it. */
  finalized = false;
  /** Release what the object holds (its ops->destroy). */
  abstract destroy(): void;
}

/** xa_limit_31b */
const ID_LIMIT = 2 ** 31 - 1;

export class ObjectTable {
  readonly #objects: (SimObject | undefined)[] = [undefined];
  // Freed ids below #objects.length, as a binary min-heap: xa_alloc() takes the lowest free index.
  readonly #free: number[] = [];
  #count = 0;

  get size(): number {
    return this.#count;
  }

  /** iommufd_object_alloc(): reserve the lowest free id. Returns it, or null when full. */
  add(obj: SimObject): number | null {
    let id: number;
    if (this.#free.length > 0) id = heapPop(this.#free);
    else {
      id = this.#objects.length;
      if (id > ID_LIMIT) return null;
      this.#objects.push(undefined);
    }
    this.#objects[id] = obj;
    obj.id = id;
    this.#count++;
    return id;
  }

  /** iommufd_get_object(): the object, or null for ENOENT (missing, or not `type`). */
  get<T extends SimObject>(id: number, type?: ObjType): T | null {
    const obj = id > 0 ? this.#objects[id] : undefined;
    if (!obj || !obj.finalized || (type !== undefined && obj.type !== type)) return null;
    return obj as T;
  }

  /** Take the object out of the table (the caller destroys it). */
  delete(obj: SimObject): void {
    if (this.#objects[obj.id] !== obj) throw new Error(`sim: object ${obj.id} is not in the table`);
    this.#objects[obj.id] = undefined;
    this.#count--;
    heapPush(this.#free, obj.id);
  }

  /** Take the object out of the table and keep its id from reuse (a tombstone). */
  tombstone(obj: SimObject): void {
    if (this.#objects[obj.id] !== obj) throw new Error(`sim: object ${obj.id} is not in the table`);
    this.#objects[obj.id] = undefined;
    this.#count--;
  }

  /** Live objects in id order. */
  *[Symbol.iterator](): IterableIterator<SimObject> {
    for (const obj of this.#objects) if (obj) yield obj;
  }
}

function heapPush(heap: number[], value: number): void {
  let i = heap.push(value) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]! <= value) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = value;
}

function heapPop(heap: number[]): number {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length > 0) {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) break;
      const r = l + 1;
      const c = r < heap.length && heap[r]! < heap[l]! ? r : l;
      if (heap[c]! >= last) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = last;
  }
  return top;
}
