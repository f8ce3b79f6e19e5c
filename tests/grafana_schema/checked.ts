// The types every generated dashboard must satisfy: Grafana's own (npm @grafana/schema),
// made strict where Grafana's are loose. tests/reporting/test_grafana_schema.py writes the
// dashboards as `<model> satisfies CheckedDashboard` and runs tsc --strict over them.
import type { Dashboard, DataSourceRef, FieldConfig, Panel } from '@grafana/schema';

// JSON has the values of Grafana's string enums (ThresholdsMode, MappingType, …), not the
// enums themselves: accept their literal values, everything else as Grafana types it.
type AsJson<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends Array<infer U>
      ? Array<AsJson<U>>
      : T extends object
        ? { [K in keyof T]: AsJson<T[K]> }
        : T;

// The ClickHouse plugin's SQL query (CHSqlQuery in grafana/clickhouse-datasource
// src/types/sql.ts). Grafana types targets as any record, so this is ours to hold.
interface ClickHouseSql {
  refId: string;
  datasource: DataSourceRef;
  pluginVersion: string;
  editorType: 'sql';
  format: 0 | 1 | 2 | 3 | 4;
  queryType: 'table' | 'timeseries' | 'logs' | 'traces';
  rawSql: string;
}

type CheckedPanel = Omit<AsJson<Panel>, 'targets' | 'type' | 'id' | 'title'> & {
  type: string;
  id: number;
  title: string;
  description: string;
  targets: ClickHouseSql[];
};

// A uid and a title are optional in Grafana's type; provisioning and publishing need both.
export type CheckedDashboard = Omit<AsJson<Dashboard>, 'panels' | 'uid' | 'title'> & {
  uid: string;
  title: string;
  panels: CheckedPanel[];
};

// Each override's properties are typed `unknown` by Grafana; as one field config they are not.
export type CheckedFieldConfig = AsJson<FieldConfig>;
