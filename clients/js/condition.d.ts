// Type declarations of @modelcast/client/condition (src/condition.js): the condition
// language of models.json (docs/models.md), checked and evaluated as the server does.
export interface ModelSpec {
  name: string;
  attributes: { [attribute: string]: { type: string } };
}
export declare const SYSTEM_COLUMNS: { readonly [column: string]: { type: string } };
export declare const MAX_DEPTH: number;
export declare const MAX_IN: number;
export declare class ConditionError extends Error {}
export declare function column(model: ModelSpec, name: string): { type: string } | null;
export declare function parseTime(text: unknown): number | null;
export declare function compareStrings(a: string, b: string): number;
export declare function typeError(attr: { type: string }, value: unknown): string | null;
export declare function checkCondition(model: ModelSpec, condition: unknown, path?: string): object;
export declare function evaluate(model: ModelSpec, condition: object, record: object): boolean;
export declare function conditionColumns(condition: object, out?: Set<string>): Set<string>;
export declare function compareColumn(attr: { type: string }, a: unknown, b: unknown): number;
