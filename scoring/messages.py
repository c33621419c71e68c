"""Message templates a user reads, Chinese and English, in one place.

Each entry is ``(zh, en)``; fill with ``str.format`` via :func:`render`.
"""
from __future__ import annotations

TEMPLATES: dict[str, tuple[str, str]] = {
    # --- intake: cell-level rejections (prefix "{file} 第 {row} 行 {column}" added by intake)
    "empty": ("为空（该列必填）", "is empty (a value is required)"),
    "not_int": ('值 "{value}" 不是整数', '"{value}" is not a whole number'),
    "not_number": ('值 "{value}" 不是有效数字', '"{value}" is not a valid number'),
    "too_large": ('值 "{value}" 超出可表示的数值范围', '"{value}" is too large to be held as a number'),
    "not_date": (
        '值 "{value}" 不是有效日期（应为 YYYY-MM-DD、YYYY/MM/DD 或 YYYY年MM月DD日）',
        '"{value}" is not a valid date (expected YYYY-MM-DD, YYYY/MM/DD or YYYY年MM月DD日)',
    ),
    "date_out_of_range": ('值 "{value}" 不在合理的日期范围（{earliest} 至 {latest}）内', '"{value}" is outside the plausible dates ({earliest} to {latest})'),
    "date_in_future": ('值 "{value}" 晚于今天（{today}）：已发生的事不会记在将来的日期', '"{value}" is after today ({today}): what has happened cannot be dated in the future'),
    "not_bool": ('值 "{value}" 不是布尔值（应为 是/否、true/false、1/0、Y/N）', '"{value}" is not a boolean (expected true/false, 1/0, 是/否, Y/N)'),
    "not_enum": ('值 "{value}" 不在允许范围内（应为 {allowed_zh} 之一）', '"{value}" is not allowed (expected one of {allowed_en})'),
    "below_min": ('值 "{value}" 小于下限 {bound}', '"{value}" is below the minimum {bound}'),
    "not_above_min": ('值 "{value}" 应大于 {bound}', '"{value}" must be greater than {bound}'),
    "above_max": ('值 "{value}" 大于上限 {bound}', '"{value}" is above the maximum {bound}'),
    "bad_uscc": (
        '值 "{value}" 不是有效的统一社会信用代码（18 位，校验位须符合 GB 32100-2015）',
        '"{value}" is not a valid unified social credit code (18 characters, check digit per GB 32100-2015)',
    ),
    "bad_region": (
        '值 "{value}" 不是有效的行政区划代码（应为 6 位数字，GB/T 2260）',
        '"{value}" is not a valid region code (expected 6 digits, GB/T 2260)',
    ),
    "formula_id": (
        '值 "{value}" 以 = + - @ 之一开头，电子表格会把它当作公式执行；标识符不得以这些字符开头',
        '"{value}" starts with one of = + - @, which a spreadsheet runs as a formula; identifiers may not start with them',
    ),
    "id_too_long": ('值 "{value}" 超过 {limit} 个字符，标识符不能这么长', '"{value}" is longer than {limit} characters, too long for an identifier'),
    "duplicate": ('值 "{value}" 重复（同值共 {count} 行，均不予接收）', '"{value}" is duplicated ({count} rows share it; none is accepted)'),
    "unknown_policy": ('值 "{value}" 不在保单表中', '"{value}" is not in the policies table'),
    "policy_rejected": ('值 "{value}"：该保单已被拒收，本行随之拒收', '"{value}": that policy was rejected, so this row is rejected too'),
    "end_not_after_start": (
        '值 "{value}" 不晚于保险起期 {other}（保险止期应晚于起期）',
        '"{value}" is not after start_date {other} (end_date must be later than start_date)',
    ),
    "rectified_gt_found": (
        '值 "{value}" 大于发现隐患数 {other}',
        '"{value}" is greater than hazards_found {other}',
    ),
    "report_before_accident": ('值 "{value}" 早于事故日期 {other}（报案不能早于事故）', '"{value}" is before accident_date {other} (a claim cannot be reported before the accident)'),
    "closed_required": ("为空，但赔案状态不是未决（open）时必须填写结案日期", "is empty, but closed_date is required unless the status is open"),
    "closed_before_report": ('值 "{value}" 早于报案日期 {other}', '"{value}" is before report_date {other}'),
    "agency_required": (
        "为空，但服务主体为受托技术服务机构（agency）时必须填写服务机构代码",
        "is empty, but agency_id is required when provider_type is agency",
    ),
    "malformed_row": (
        '列数与表头不符（该行内容 "{value}"），无法读取',
        'has a different number of fields than the header (row text "{value}") and cannot be read',
    ),
    "line_break": (
        '含换行（第 {first}–{last} 行被读成一条记录，多半是一个未配对的引号吞并了其间各行），该列不能含换行；值 "{value}"',
        'holds a line break (lines {first}-{last} were read as one record, most likely an unpaired quote swallowed the lines between); this column cannot hold one; value "{value}"',
    ),
    "row_prefix": ("{file} 第 {row} 行 ", "{file} row {row}: "),
    # --- rule fragments (observed / expected texts of check kinds)
    "all_of": ("全部 {n} 项（{items}）", "all {n} ({items})"),
    "services_count": ("共 {n} 次服务", "{n} services"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "rate_high": ("{rate}（高于同组中位数，稳健 z = {z}）", "{rate} (above the peer median, robust z = {z})"),
    "rate_low": ("{rate}（低于同组中位数，稳健 z = {z}）", "{rate} (below the peer median, robust z = {z})"),
    "days_into_period": ("保险期开始已 {n} 天", "{n} days into the period"),
    "period": ("{start} 至 {end}", "{start} to {end}"),
    "period_ended": ("保险期已于 {end} 结束", "the period ended on {end}"),
    "staff_qualified": ("所列服务人员中至少一人有资质", "at least one listed staff member qualified"),
    "staff_listed": ("列于服务人员名单", "listed in the staff table"),
    "photo_own": ("仅用于本企业的服务记录", "used on this enterprise's records only"),
    "fewer_enterprises": ("少于 {n} 家", "fewer than {n} enterprises"),
    "loss_ratio": (
        "{province}{industry}行业 {year} 年保单 {n} 件：赔付率 {lr}（可信度 {z}；赔案 {k} 件，按市场频率应约 {mu} 件），按目标赔付率测算费率应调整 {change}",
        "province {province}, {industry}, {year} policies ({n}): loss ratio {lr} (credibility {z}; {k} claims where the market's frequency implies about {mu}); indicated rate change {change}",
    ),
    "history_declared": ("申报上年度事故 {a} 起、死亡 {d} 人", "declared {a} accidents and {d} deaths in the year before"),
    "history_claims": ("赔案记录显示事故 {a} 起、死亡 {d} 人", "claims show {a} accidents and {d} deaths"),
    "claim_closed_after": ("赔案 {claim} 报案后 {n} 天才结案", "claim {claim} closed {n} days after it was reported"),
    "claim_open_for": ("赔案 {claim} 报案已 {n} 天仍未结案", "claim {claim} still open {n} days after it was reported"),
    "within_days": ("报案后 {n} 天内", "within {n} days of the report"),
    "staff_overlap": (
        "{staff} 于 {date} 在 {n} 家企业合计 {hours} 小时、最远相距 {km} 公里",
        "{staff} on {date} at {n} enterprises, {hours} hours in all, up to {km} km apart",
    ),
    "staff_overlap_limit": ("合计不超过 {hours} 小时且相距不超过 {km} 公里", "at most {hours} hours in all and {km} km apart"),
    "share_of": ("{value} 占 {share}（共 {n} 件）", "{value} holds {share} (of {n})"),
    "hhi": ("HHI {hhi}（{industry}，{n} 件）", "HHI {hhi} ({industry}, {n} policies)"),
    "blacklist": ("虚构迹象保单占 {share}；预防费用使用率 {ratio}", "integrity findings on {share} of policies; prevention fee spent {ratio}"),
    "blacklist_limit": (
        "虚构迹象保单占比 < {share} 且预防费用使用率 ≥ {ratio}",
        "integrity findings on < {share} of policies and prevention fee spent ≥ {ratio}",
    ),
    "rows_prefix": ("{file} 第 {row}–{last} 行 ", "{file} lines {row}-{last}: "),
    # --- intake: structural errors (stop the run, exit 2)
    "no_submission": ("找不到提交数据 {path}（应为文件夹或 .xlsx 工作簿）", "submission {path} not found (expected a folder or an .xlsx workbook)"),
    "not_container": ("{path} 不是可读取的提交数据（应为文件夹或 .xlsx 工作簿）", "{path} is not a readable submission (expected a folder or an .xlsx workbook)"),
    "missing_table": ("提交数据 {path} 缺少必需的表 {table}（{table_zh}）", "submission {path} has no {table} table ({table_zh}), which is required"),
    "link_outside": (
        "提交文件夹 {path} 中的 {file} 是指向文件夹之外（{target}）的链接，拒绝读取；请把文件本身放入提交文件夹",
        "{file} in submission folder {path} is a link to {target}, outside the folder; refusing to read it. Put the file itself in the folder",
    ),
    "duplicate_table": ("提交数据 {path} 中表 {table} 出现多次：{files}", "submission {path} holds table {table} more than once: {files}"),
    "table_workbook_sheets": (
        "{file} 作为表 {table}（{table_zh}）读取时应只有一个工作表，或有一个名为 {table} / {table_zh} 的工作表；现有：{sheets}",
        "{file}, read as table {table} ({table_zh}), must hold one sheet or a sheet named {table} / {table_zh}; it holds: {sheets}",
    ),
    "unknown_sheet": ("工作簿 {path} 含有无法识别的工作表 {sheet}（应为 {allowed}）", "workbook {path} has an unknown sheet {sheet} (expected {allowed})"),
    "missing_column": ("{file} 缺少必需的列 {column}（{column_zh}）", "{file} is missing the required column {column} ({column_zh})"),
    "duplicate_column": ("{file} 的列 {column} 出现多次", "{file} has the column {column} more than once"),
    "empty_file": ("{file} 是空文件或没有表头行", "{file} is empty or has no header row"),
    "not_a_table": ("{file} 无法作为表格读取：{detail}", "{file} cannot be read as a table: {detail}"),
    "field_too_large": (
        "{file} 第 {row} 行起的一个字段超过 {limit} 个字符，无法读取（若非有意，多半是一个未配对的引号吞并了其后各行）",
        "{file}: a field starting on line {row} is longer than {limit} characters and cannot be read (if not intended, an unpaired quote has swallowed the lines after it)",
    ),
    "ambiguous_quotes": (
        "{file} 的引号无法一致地解析（读出 {records} 条记录，按行扫描为 {found} 条），行号无法确定；请检查未配对的引号",
        "{file} has quoting that cannot be read consistently ({records} records read, {found} found by lines), so row numbers cannot be trusted; check for unpaired quotes",
    ),
    "xlsx_too_large": (
        "{file} 解压后为 {size} MiB，超过上限 {limit} MiB，未读取；请改用 CSV 或 Parquet 提交，或设置环境变量 {var} 提高上限",
        "{file} expands to {size} MiB, above the limit of {limit} MiB, and was not read; submit CSV or Parquet instead, or raise the limit with the environment variable {var}",
    ),
    "sheet_too_large": (
        "{file} 的范围为 {extent}（{n} {what_zh}），超过上限 {limit}，未读取；请删除多余的单元格，或设置环境变量 {var} 提高上限",
        "{file} spans {extent} ({n} {what_en}), above the limit of {limit}, and was not read; delete the stray cells, or raise the limit with the environment variable {var}",
    ),
    "uncached_formula": (
        "{file} 有 {n} 个公式单元格没有计算结果（如 {cells}；多半由程序写出、未在 Excel 中打开保存过），无法读取其值；请在 Excel 或 WPS 中打开并保存后再提交，或把公式换成数值",
        "{file} has {n} formula cells without a calculated value (e.g. {cells}; most likely written by a program and never saved "
        "by Excel), so their values cannot be read; open and save the workbook in Excel or WPS, or replace the formulas by values",
    ),
    "sheet_unreadable": (
        "{file} 第 {row} 行附近的内容无法读取（{detail}）：工作簿已损坏或含有不允许的 XML 实体",
        "{file} cannot be read near row {row} ({detail}): the workbook is damaged or declares XML entities, which are not allowed",
    ),
    "nested_column": (
        "{file} 的列 {column} 是嵌套或二进制类型（{type}），无法作为单元格读取；每列应为文本、数字或日期",
        "{file}: column {column} has a nested or binary type ({type}) and cannot be read as cells; each column must be text, a number or a date",
    ),
    "nested_value": (
        "{file} 第 {record} 条记录（第 {row} 行）的 {column} 是对象或数组，无法作为单元格读取；每个值应为文本、数字或日期",
        "{file} record {record} (row {row}): {column} is an object or array and cannot be read as a cell; each value must be text, a number or a date",
    ),
    # --- options
    "bad_date_option": (
        '{option} 值 "{value}" 不是有效日期（应为 YYYY-MM-DD、YYYY/MM/DD 或 YYYY年MM月DD日，在 {earliest} 至 {latest} 之间）',
        '{option} "{value}" is not a valid date (expected YYYY-MM-DD, YYYY/MM/DD or YYYY年MM月DD日, between {earliest} and {latest})',
    ),
    "token_too_short": (
        "--token 只有 {n} 个字符；访问令牌至少需要 {min} 个随机字符（不给 --token 时会自动生成一个）",
        "--token has {n} characters; an access token needs at least {min} random characters (one is generated when --token is not given)",
    ),
    "port_in_use": (
        "端口 {host}:{port} 已被占用（可能是另一个程序或另一个复核网页）；请换一个 --port，或用 --port 0 任选空闲端口",
        "port {host}:{port} is already in use (perhaps by another program or another review app); choose another --port, or --port 0 for any free port",
    ),
    "cannot_listen": ("无法在 {host}:{port} 上监听：{detail}", "cannot listen on {host}:{port}: {detail}"),
    "os_error": (
        "无法读写 {path}：{reason_zh}；结果未写出（已有的结果保持不变）",
        "cannot read or write {path}: {reason_en}; no results were written (earlier results are unchanged)",
    ),
    "database_error": ("复核数据库无法读写（{detail}）：多半是磁盘已满或文件只读；结论未记录", "the review database cannot be read or written ({detail}): most likely a full disk or a read-only file; nothing was recorded"),
    "workbook_suffix": ("--out {out} 应为 .xlsx 文件", "--out {out} must be an .xlsx file"),
    "engine_unknown": ("--engine 应为 local 或 dask；现为 {engine}", "--engine must be local or dask; got {engine}"),
    "engine_local_options": ("--scheduler 和 --workers 只用于 --engine dask", "--scheduler and --workers apply to --engine dask only"),
    "engine_workers": (
        "--workers 应为不小于 1 的整数，且只用于本机集群（不给 --scheduler 时）；现为 {workers}",
        "--workers must be at least 1, and applies to a local cluster only (no --scheduler); got {workers}",
    ),
    "capacity_option": (
        "--capacity 应为不小于 1 的整数（可核查的保单数）；现为 {capacity}",
        "--capacity must be a whole number of at least 1 (policies that can be inspected); got {capacity}",
    ),
    # --- the score job's steps (progress on a terminal)
    "engine_started": ("Dask 集群 {workers} 个工作进程{where}", "Dask cluster with {workers} workers{where}"),
    "step_read": ("读取并校验提交数据", "reading and validating"),
    "step_rules": ("运行规则库", "running the rulebook"),
    "step_model": ("加载模型并评分", "scoring with the model"),
    "step_shift": ("比较提交数据与模型训练数据", "comparing the submission with the model's training data"),
    "step_explain": ("解释标记", "explaining flags"),
    "step_summaries": ("汇总保险机构", "summarising insurers"),
    "step_write": ("写出结果", "writing results"),
    # --- output directories
    "out_is_link": ("{option} {out} 是一个符号链接；请直接指定目录", "{option} {out} is a symbolic link; give the directory itself"),
    "out_holds_cwd": (
        "{option} {out} 是当前所在的文件夹（或包含它）；请指定其他文件夹",
        "{option} {out} is the folder you are in (or holds it); give another folder",
    ),
    "out_is_input": (
        "{option} {out} 与输入 {input} 是同一位置（或互相包含）；结果不能写在输入上",
        "{option} {out} is the input {input}, or holds it, or lies inside it; results cannot be written over an input",
    ),
    "out_other_kind": (
        "{option} {out} 是{found}，不是{kind}；为免覆盖，拒绝写入。请指定一个新的或空的文件夹",
        "{option} {out} is {found_en}, not {kind_en}; refusing to replace it. Give a new or empty folder",
    ),
    "out_is_file": ("{option} {out} 是一个已存在的文件，不是目录；请指定目录", "{option} {out} is an existing file, not a directory; give a directory"),
    "out_parent_file": ("{option} {out} 无法创建：{parent} 是文件，不是目录", "{option} {out} cannot be made: {parent} is a file, not a directory"),
    "out_not_writable": ("{option} {out} 无法写入（{parent} 不可写）", "{option} {out} cannot be written ({parent} is not writable)"),
    "out_not_ours": (
        "{option} {out} 是一个已有内容的文件夹，但不是本程序写出的结果（其中没有 {manifests} 之一）；为免覆盖您的文件，拒绝写入。请指定一个新的或空的文件夹",
        "{option} {out} is a folder with contents that this program did not write (it holds none of {manifests}); "
        "refusing to replace your files. Give a new or empty folder",
    ),
    # --- converted datasets (scoring convert) checked against convert.json before they are read
    "dataset_changed": (
        "数据集 {path} 与转换时记录的不符（{problems_zh}）：数据集在转换后被改动、删减或增添过；请重新运行 scoring convert",
        "the dataset {path} was changed after conversion: it differs from what convert.json recorded ({problems_en}); "
        "run scoring convert again",
    ),
    "dataset_file_missing": ("缺少分区文件 {file}（应有 {rows} 行）", "partition file {file} is missing ({rows} rows expected)"),
    "dataset_link": ("{file} 是符号链接，转换不会写出链接", "{file} is a symbolic link, which no conversion writes"),
    "dataset_without_record": (
        "{path} 含有数据集的表目录（{tables}），却没有 convert.json，无法核对其是否完整；请用 scoring convert 重新转换，或改用 CSV 等文件提交",
        "{path} holds a dataset's table directories ({tables}) but no convert.json, so it cannot be checked whole; convert it again "
        "with scoring convert, or submit CSV or other files",
    ),
    "dataset_file_added": ("多出转换时没有的文件 {file}", "{file} was not written by the conversion"),
    "dataset_file_rows": ("分区文件 {file} 有 {rows} 行，转换时为 {want} 行", "partition file {file} has {rows} rows where the conversion wrote {want}"),
    "dataset_file_changed": ("分区文件 {file} 的内容（sha256）已改变", "the content (sha256) of partition file {file} has changed"),
    "dataset_no_manifest": (
        "数据集 {path} 的 convert.json 没有逐个分区文件的记录（由较早版本写出），无法核对其完整性；请重新运行 scoring convert",
        "the convert.json of dataset {path} lists no partition files (an earlier version wrote it), so the dataset cannot be "
        "checked whole; run scoring convert again",
    ),
    "dataset_manifest_unreadable": ("数据集 {path} 的 convert.json 无法读取：{detail}", "the convert.json of dataset {path} cannot be read: {detail}"),
    # --- rulebooks
    # --- rule definitions (scoring rules, a rulebook that does not validate)
    "pydantic:missing": ("缺少必填字段", "a required field is missing"),
    "pydantic:extra_forbidden": ("不是可用的字段（拼写错误？）；给出的值 {given}", "not a field of this place (a typo?); given {given}"),
    "pydantic:literal_error": ("应为 {expected_zh} 之一；实为 {given}", "must be one of {expected_en}; got {given}"),
    "pydantic:enum": ("应为 {expected_zh} 之一；实为 {given}", "must be one of {expected_en}; got {given}"),
    "pydantic:string_pattern_mismatch": ("格式不符（应匹配 {pattern}）；实为 {given}", "does not match the pattern {pattern}; got {given}"),
    "pydantic:string_type": ("应为文本；实为 {given}", "must be text; got {given}"),
    "pydantic:string_too_short": ("至少应有 {min_length} 个字符；实为 {given}", "must have at least {min_length} characters; got {given}"),
    "pydantic:int_parsing": ("应为整数；实为 {given}", "must be a whole number; got {given}"),
    "pydantic:int_type": ("应为整数；实为 {given}", "must be a whole number; got {given}"),
    "pydantic:int_from_float": ("应为整数；实为 {given}", "must be a whole number; got {given}"),
    "pydantic:float_parsing": ("应为数字；实为 {given}", "must be a number; got {given}"),
    "pydantic:float_type": ("应为数字；实为 {given}", "must be a number; got {given}"),
    "pydantic:bool_parsing": ("应为 true 或 false；实为 {given}", "must be true or false; got {given}"),
    "pydantic:bool_type": ("应为 true 或 false；实为 {given}", "must be true or false; got {given}"),
    "pydantic:date_parsing": ("应为日期 YYYY-MM-DD；实为 {given}", "must be a date YYYY-MM-DD; got {given}"),
    "pydantic:date_type": ("应为日期 YYYY-MM-DD；实为 {given}", "must be a date YYYY-MM-DD; got {given}"),
    "pydantic:date_from_datetime_parsing": ("应为日期 YYYY-MM-DD；实为 {given}", "must be a date YYYY-MM-DD; got {given}"),
    "pydantic:list_type": ("应为列表；实为 {given}", "must be a list; got {given}"),
    "pydantic:dict_type": ("应为键值映射；实为 {given}", "must be a mapping; got {given}"),
    "pydantic:tuple_type": ("应为列表；实为 {given}", "must be a list; got {given}"),
    "pydantic:too_short": ("项数不足；实为 {given}", "has too few items; got {given}"),
    "pydantic:too_long": ("项数过多；实为 {given}", "has too many items; got {given}"),
    "pydantic:greater_than": ("应大于 {gt}；实为 {given}", "must be greater than {gt}; got {given}"),
    "pydantic:greater_than_equal": ("应不小于 {ge}；实为 {given}", "must be at least {ge}; got {given}"),
    "pydantic:less_than": ("应小于 {lt}；实为 {given}", "must be less than {lt}; got {given}"),
    "pydantic:less_than_equal": ("应不大于 {le}；实为 {given}", "must be at most {le}; got {given}"),
    "pydantic:model_type": ("应为键值映射；实为 {given}", "must be a mapping; got {given}"),
    "pydantic:other": ("取值无效（{type}）；实为 {given}", "is not valid ({type}); got {given}"),
    "ref_hint": ("；是否应为 {near_zh}？", "; did you mean {near_en}?"),
    "ref_no_column": ("{scope_zh}规则可用的列中没有 {column}（应为{kinds_zh}列）", "{scope} rules have no column {column!r} (expected a {kinds_en} column)"),
    "ref_wrong_type": ("列 {column} 是{type_zh}列，此处应为{kinds_zh}列", "column {column!r} is a {type} column; expected {kinds_en}"),
    "ref_bad_value": ("{bad_zh} 不是列 {column} 的取值；应为 {values_zh} 之一", "{bad_en} is not a value of {column}; must be one of {values_en}"),
    "rule_scope": ("检查类型 {kind} 只适用于 {scopes_zh} 范围；实为 {scope}", "kind {kind!r} serves {scopes_en}; got scope {scope!r}"),
    "rule_end_before_start": ("止期 {end} 早于施行日 {start}", "effective_to {end} is before effective_from {start}"),
    "override_not_allowed": ("参数 {name} 不能按地区覆盖", "parameter {name!r} cannot be overridden by region"),
    "override_looser": ("{value} 比 {base} 宽松；地区覆盖只能使规则更严", "{value} is looser than {base}; overrides may only make a rule stricter"),
    "unknown_kind": ("未知的检查类型 {kind}；应为 {known} 之一", "unknown check kind {kind}; must be one of {known}"),
    "unknown_placeholder": ("未知的占位符 {unknown}；可用 {allowed}", "unknown placeholder(s) {unknown}; allowed: {allowed}"),
    "dates_order": ("latest {latest} 应晚于 earliest {earliest}", "latest {latest} must be after earliest {earliest}"),
    "rule_overlap": ("施行期重叠（{a}… 与 {b}…）", "effective periods overlap ({a}… and {b}…)"),
    "yaml_alias": ("别名 *{anchor} 不允许", "aliases (*{anchor}) are not allowed"),
    "nested_too_deep": ("嵌套层数过多", "nested too deeply"),
    "rulebook_not_file": ("规则库 {path} 不是普通文件", "rulebook {path} is not a regular file"),
    "rulebook_too_large": ("规则库 {path} 有 {size} KiB，超过上限 {limit} KiB，未读取", "rulebook {path} is {size} KiB, above the limit of {limit} KiB, and was not read"),
    "rulebook_unreadable": ("无法读取规则库 {path}：{detail}", "cannot read rulebook {path}: {detail}"),
    "rulebook_not_yaml": ("规则库 {path} 不是有效的 YAML：{detail}", "rulebook {path} is not valid YAML: {detail}"),
    "rulebook_not_mapping": ("规则库 {path} 应为键值映射", "rulebook {path} must be a mapping"),
    "rulebook_issues": ("规则库 {path} 有 {n} 处错误：", "rulebook {path} has {n} error(s):"),
    "rulebook_issue": ("  规则 {rule} 的 {field}：{issue_zh}", "  rule {rule}, field {field_en}: {issue_en}"),
    "rulebook_more_issues": ("  …另有 {n} 处错误未列出", "  … and {n} more errors not listed"),
    # --- check kinds: one line each for `scoring rules --kinds`
    "kind:accident_history_understated": ("申报的上年度事故少于赔案记录", "declared accident history below what the claims show"),
    "kind:checkin_distance": ("签到位置距企业过远", "a check-in too far from the enterprise"),
    "kind:claim_days": ("赔案结案过慢或长期未决", "a claim closed too slowly or left open too long"),
    "kind:column_equals": ("某列等于某值（如 是/否、某代码）", "a column equal to a value (yes/no, a code)"),
    "kind:column_in_set": ("枚举列取值属于某组代码", "an enum column holding one of some codes"),
    "kind:column_outside_band": ("数值列不在区间内", "a number column outside a band"),
    "kind:column_vs_column": ("两个数值列的比较（如累计限额低于每次事故限额）", "two number columns compared (an aggregate limit below the per-accident one)"),
    "kind:column_vs_value": ("数值列与给定值比较（可加条件）", "a number column compared with a value (with optional conditions)"),
    "kind:columns_all_true": ("若干 是/否 列应全部为“是”", "yes/no columns that must all be yes"),
    "kind:date_before": ("一个日期早于另一个日期", "one date before another"),
    "kind:date_gap_above": ("两个日期相隔过久", "too many days between two dates"),
    "kind:date_outside_policy": ("服务日期不在保险期间内", "a service date outside the policy period"),
    "kind:duplicate_text": ("同一服务主体的文字在多家企业雷同", "the same text from one provider for several enterprises"),
    "kind:hhi": ("地市同行业保险机构集中度过高", "insurer concentration too high in a prefecture and industry"),
    "kind:insurer_blacklist": ("保险机构黑名单候选（虚构迹象或投入不足）", "insurer blacklist candidate (fabrication signs or under-spending)"),
    "kind:item_missing": ("已结束保险期内缺少某项服务", "an ended period without a service item"),
    "kind:loss_ratio": ("赔付率明显偏离（费率过高或不足）", "loss ratio far from the line (rates too high or too low)"),
    "kind:missing_value": ("某列到期仍为空（如报告、复查）", "a column still empty when due (a report, a follow-up)"),
    "kind:no_services": ("没有任何服务记录", "no service record at all"),
    "kind:peer_outlier": ("费率明显偏离同组", "a rate far from its peers'"),
    "kind:product_mismatch": ("某列与若干列乘积不符（如保费）", "a column differing from the product of others (the premium)"),
    "kind:ratio_vs_value": ("两列之比与给定值比较", "the ratio of two columns compared with a value"),
    "kind:service_count_below": ("已结束保险期内服务次数过少", "too few services in an ended period"),
    "kind:share_exclusive": ("地市内单一主体份额过高（经纪、共保体）", "one party's share too high in a prefecture (broker, co-insurance group)"),
    "kind:shared_photo": ("同一影像资料出现在多家企业", "the same photo on records of several enterprises"),
    "kind:spend_below": ("服务费用低于事故预防费用的一定比例", "service cost below a share of the prevention fee"),
    "kind:staff_overlap": ("同一人员同日多地服务", "one staff member at several enterprises on one day"),
    "kind:staff_unknown": ("服务人员不在人员名单中", "a staff member not in the staff table"),
    "kind:staff_unqualified": ("服务人员均无资质", "no listed staff member qualified"),
    # --- run notices (terminal, report, run.json)
    "nothing_not_started": (
        "没有可评分的保单：评估日 {day} 时全部 {n} 件保单尚未起保",
        "no policy can be scored: none of the {n} policies had started by the as-of date {day}",
    ),
    "nothing_all_rejected": (
        "没有可评分的保单：保单表读入 {n} 条记录，全部被拒收",
        "no policy can be scored: all {n} records of the policies table were rejected",
    ),
    "nothing_header_only": ("没有可评分的保单：保单表只有表头，没有数据行", "no policy can be scored: the policies table has a header and no data rows"),
    "nothing_where": ("。原因见 {rejected}；run.json 与 report.html 已写出。", ". The reasons are in {rejected}; run.json and report.html were written."),
    "rules_differ": (
        "警告：当前规则库（{now}）与模型训练时的规则库（{then}）规则不同，由规则发现构成的特征（严重、较重、虚构迹象发现数）含义已变，模型概率可能偏移；请用当前规则库重新训练。",
        "WARNING: the rules in force ({now}) differ from those the model was trained with ({then}); features built from findings have changed meaning and the model's probabilities may be off. Retrain with the rules in force.",
    ),
    "shift": (
        "警告：本提交数据与模型的训练数据差异明显（区分度 {score} ≥ {warn}），差异最大的特征：{names_zh}。模型排序可能不可靠，优先级已改为主要依据证据指数（证据指数权重 {index_weight}，模型权重 {weight}）。",
        "WARNING: this submission is unlike the model's training data (shift score {score} ≥ {warn}; most shifted: {names_en}); the model's ranking may not hold here, so priority rests mainly on the evidence index (index weight {index_weight}, model weight {weight}).",
    ),
    "shift_findings": (
        "警告：本提交数据与模型的训练数据差异明显（区分度 {score} ≥ {warn}），差异最大的特征：{names_zh}。模型排序可能不可靠，规则库未定义证据指数，优先级已改为更多依据规则发现（模型权重 {weight}）。",
        "WARNING: this submission is unlike the model's training data (shift score {score} ≥ {warn}; most shifted: {names_en}); the model's ranking may not hold here and the rulebook defines no evidence index, so priority leans on the rule findings (model weight {weight}).",
    ),
    "cold_start": (
        "下一步：用 scoring sample 生成抽查计划，按其随机组现场核查（合计至少 100–200 份；50 份通常不够，其中服务缺失的案例太少），结果记入核查结果表（selection 填 random），再用 scoring train 在这一年度的核查结果上训练本地模型；本地模型在留出核查上优于证据指数之前，以证据指数为准。",
        "next: make an inspection plan with scoring sample and inspect its random arm (100-200 policies in all at least; 50 are usually too few: they hold too few cases of missing service), record the outcomes in the inspections table (selection = random), then train a local model on that year with scoring train; until it beats the evidence index on held-out inspections, rely on the index.",
    ),
    "evidence.peers.industry_province": ("同行业同省", "its industry and province"),
    "evidence.peers.industry": ("同行业", "its industry"),
    "evidence.peers.all": ("全部保单", "all policies"),
    "evidence.ratio": ("{feature}为{peers}中位数的 {ratio}（{share}的同类保单好于此）",
                       "{feature} is {ratio} of the median of {peers} ({share} of peers do better)"),
    "evidence.value": ("{feature} {value}，{peers}中位数 {median}（{share}的同类保单好于此）",
                       "{feature} {value}, median of {peers} {median} ({share} of peers do better)"),
    "evidence.unknown_feature": ("规则库 evidence_index 的组成部分“{feature}”不是模型特征；可用：{known}",
                                 "rulebook evidence_index part '{feature}' is not a model feature; known: {known}"),
    "basis.model": ("优先级依据模型概率与规则发现", "priority rests on the model's probabilities and the rule findings"),
    "basis.blend": ("优先级依据证据指数（权重 {index_weight}）与模型概率（权重 {weight}），规则发现权重乘以 {finding_weight}",
                    "priority rests on the evidence index (weight {index_weight}) and the model (weight {weight}), the findings' weights times {finding_weight}"),
    "basis.index": ("优先级依据证据指数（模型权重 0），规则发现权重乘以 {finding_weight}",
                    "priority rests on the evidence index (model weight 0), the findings' weights times {finding_weight}"),
    "basis.findings": ("优先级更多依据规则发现（模型权重 {weight}）", "priority leans on the rule findings (model weight {weight})"),
    "out_of_scope": (
        "按评估日 {day} 的已知情况评估：其后起保的 {policies} 件保单未评分，其后日期的 {services} 条服务记录、{inspections} 条核查结果和 {claims} 条赔案未使用。",
        "judged as known on {day}: {policies} policies starting later were not scored; {services} service records, {inspections} inspections and {claims} claims dated later were not used.",
    ),
    "synthetic_model": (
        "本次使用的模型仅用合成数据训练，尚未见过真实核查结果：其排序是提示，不是依据；请用本地核查结果重新训练（scoring train / scoring retrain）后再依赖模型排序。",
        "the model in use was trained on synthetic data only and has seen no real inspection outcome: its ranking is a hint, not evidence; retrain on local inspections (scoring train / scoring retrain) before relying on it.",
    ),
    "mixed_encoding": (
        "{file} 混用了两种编码：第 {utf8_line} 行是 UTF-8，第 {gbk_line} 行不是（多半是 GBK/GB18030）；无论按哪种读取，另一部分的中文都会变成乱码。请把整个文件另存为同一种编码（建议 UTF-8）后再提交",
        "{file} mixes two encodings: line {utf8_line} is UTF-8 and line {gbk_line} is not (most likely GBK/GB18030); read either way, "
        "the other part's Chinese would turn to mojibake. Save the whole file in one encoding (UTF-8 preferred) and submit it again",
    ),
    "bom_not_utf8": (
        "{file} 以 UTF-8 字节顺序标记开头，但第 {line} 行不是 UTF-8（多半是 GBK/GB18030）；请把整个文件另存为同一种编码后再提交",
        "{file} starts with a UTF-8 byte order mark, but line {line} is not UTF-8 (most likely GBK/GB18030); save the whole file in "
        "one encoding and submit it again",
    ),
    "bad_encoding": ("{file} 的编码无法识别（应为 UTF-8 或 GB18030/GBK）", "{file} has an encoding that cannot be decoded (expected UTF-8 or GB18030/GBK)"),
    # --- moved from the modules that say them
    'registry.decide': ('{pc} 平均精确率提升，差值 {confidence:.0%} 区间 [{low:.4f}, {high:.4f}]，其他类别与校准在允许范围内，晋升', 'AP({pc}) improves, difference {confidence:.0%} interval [{low:.4f}, {high:.4f}], other classes and calibration within bounds; promoted'),
    'registry.open_registry': ('{path} 不是模型注册库（缺少 {registry_file}）', '{path} is not a model registry (no {registry_file})'),
    'registry.champion_dir': ('注册库 {path} 还没有冠军模型', 'registry {path} has no champion yet'),
    'registry.decide.2': ('评估标签不足（{v} 个，{pc} 阳性 {v2} 个；至少需要 {min_labels} 个和 {min_positives} 个），不晋升', 'too few labels to judge ({v}, {v2} positive for {pc}; need {min_labels} and {min_positives}); not promoted'),
    'registry.decide.3': ('尚无冠军；挑战者 {pc} 平均精确率 {v}，{v2_zh}基准比例 {base:.4f}', 'no champion yet; challenger AP({pc}) {v} is {v2_en} the base rate {base:.4f}'),
    'registry.decide.4': ('{pc} 平均精确率的提升不显著（差值 {confidence:.0%} 区间 [{low:.4f}, {high:.4f}] 含 0），不晋升', 'AP({pc}) gain not established (difference {confidence:.0%} interval [{low:.4f}, {high:.4f}] includes 0); not promoted'),
    'registry.decide.5': ('类别 {worse} 平均精确率下降超过 {tolerance}，不晋升', 'classes {worse} lose more than {tolerance} AP; not promoted'),
    'registry.decide.6': ('类别 {calib} 校准变差（Brier 上升超过 {max_brier_increase}），不晋升', 'classes {calib} are worse calibrated (Brier up by more than {max_brier_increase}); not promoted'),
    'registry.rollback': ('只能回滚到注册库 {path} 记录中的版本（{v_zh}）；{version!r} 不在其中', 'rollback takes a version recorded in registry {path} ({v_en}); got {version!r}'),
    'registry.rollback.2': ('注册库 {path} 中没有版本 {version}', 'registry {path} has no version {version}'),
    'registry.open_registry.2': ('注册库文件 {f} 已损坏，拒绝使用（未作任何修改）：{v}', 'registry file {f} is corrupt; refusing to use it (nothing was changed): {v}'),
    'registry.open_registry.3': ('注册库 {path} 的冠军 {champion!r} 不是其决策记录中最后选定的版本（{v_zh}），拒绝使用：registry.json 可能被改动过', 'registry {path} names champion {champion!r}, which is not the version its last decision chose ({v_en}); refusing to use it: registry.json may have been edited'),
    'registry.open_registry.4': ('注册库 {path} 的冠军模型 {champion} 不存在', 'registry {path} names champion {champion}, which is missing'),
    'registry.seed': ('注册库 {path} 已有冠军 {champion}，不能再设定初始冠军', 'registry {path} already has a champion ({champion}); it cannot be seeded'),
    'registry.open_registry.5': ('{path} 不是模型注册库（没有 {registry_file}），且不是空文件夹；为免改动您的文件，拒绝使用。请指定新的或空的文件夹', '{path} is not a model registry (no {registry_file}) and is not an empty folder; refusing to touch your files. Give a new or empty folder'),
    'registry.enter': ('注册库 {path} 正被另一个 retrain / rollback 使用，等待 {wait:.0f} 秒后仍未释放；请稍后再试', 'registry {path} is in use by another retrain or rollback and was not released within {wait:.0f} s; try again later'),
    # --- scoring/model/registry.py
    # --- scoring/cli.py
    # --- scoring/model/estimator.py
    'model.train': ('验证用训练部分的', 'training (the part fitted before validation)'),
    'model.check_label_counts': ('{what_zh}标签不足：{detail_zh}；每类及其余结果各至少需要 {min_class_labels} 个（共 {v} 个核查结果）。请补充核查结果后再训练', 'too few labels for {what_en}: {detail_en}; each class and the other outcomes need at least {min_class_labels} (of {v} inspection outcomes). Add inspection outcomes and train again'),
    'model.temporal_split': ('按年份划分需要至少两个年份各有 {min_test} 个以上标签（现有 {v}）', 'a temporal split needs at least two policy years with {min_test}+ labels each (have {v})'),
    'model.split_labels': ('核查结果缺少核查日期，无法按日期划分验证集', 'inspection outcomes have no inspection_date to split by'),
    'model.load_model': ('模型目录 {path} 中没有 metadata.json', 'model directory {path} has no metadata.json'),
    'model.load_model.2': ('模型 {path} 的 metadata.json 与其记录的 artifact_sha256 不符（阈值、校准等可能被改动），拒绝加载；请重新训练或恢复原文件', 'model {path}: metadata.json does not match its artifact_sha256 (thresholds, calibration or other fields were edited); refusing to load. Retrain or restore the original files'),
    'model.load_model.3': ('模型 {path} 的特征与本版本不一致（缺少 {missing}，多出 {extra}），请重新训练', 'model {path} was trained on other features (missing {missing}, extra {extra}); retrain it'),
    'model.load_model.4': ('模型 {path} 没有实体记忆（memory.json），请用本版本重新训练', 'model {path} has no entity memory (memory.json); retrain it with this version'),
    'model.load_model.5': ('{meta_path} 不是有效的 JSON：{e}', '{meta_path} is not valid JSON: {e}'),
    'model.load_model.6': ('模型 {path} 缺少类别 {cls} 的估计器', 'model {path} has no estimator for {cls}'),
    'model.load_model.7': ('模型文件 {f} 不存在', 'model file {f} does not exist'),
    'model.load_model.8': ('模型文件 {f} 的 sha256 与 metadata.json 不符（可能被篡改），拒绝加载', 'model file {f} does not match the sha256 in metadata.json (it may have been tampered with); refusing to load'),
    'model.load_model.9': ('模型文件 {f} 含有不受信任的类型 {v}，拒绝加载', 'model file {f} contains untrusted types {v}; refusing to load'),
    'model.load_model.10': ('模型文件 {f} 缺失或其 sha256 与 metadata.json 不符（可能被篡改），拒绝加载', 'model file {f} is missing or does not match the sha256 in metadata.json; refusing to load'),
    # --- scoring/model/card.py
    # --- scoring/review/exchange.py
    'workbook.notes_lines': ('导入（在命令行中，把“姓名”换成复核人）：scoring review import {run_path} 本文件.xlsx --reviewer 姓名', 'Import: scoring review import {run_path} this-file.xlsx --reviewer NAME'),
    'workbook.export_labelled': ('评分所用的提交数据 {src} 不是文件夹，无法生成带标签的提交数据（可用 --submission 指定文件夹）', 'the scored submission {src} is not a folder, so no labelled copy can be made (pass --submission)'),
    'workbook.export_labelled.2': ('目标目录 {dest} 非空', 'the destination {dest} is not empty'),
    'workbook.import_workbook': ('导入行数不平衡', 'import rows do not balance'),
    'workbook.copies_and_conflicts': ('保单 {pid} 在第 {others} 行另有不同的结论，均未记录；请只留一行', 'policy {pid} has a different verdict on row(s) {others}; none was recorded; keep one row'),
    # --- scoring/jobs.py
    'jobs.labelled_set': ('提交数据中没有核查结果（inspections），无法训练或评估', 'the submissions hold no inspection outcomes (inspections), so nothing can be trained or evaluated'),
    'jobs.run_evaluate': ('提交数据中没有核查结果（inspections），无法评估', 'the submission holds no inspection outcomes to evaluate against'),
    'jobs.run_retrain': ('请给出至少一个带核查结果的提交数据', 'give at least one labelled submission'),
    # --- scoring/outputs/report.py
    # --- scoring/engines/dask.py
    'dask.cluster': ('--engine dask 需要 Dask：pip install "ancx-scoring[dask]"', '--engine dask needs Dask: pip install "ancx-scoring[dask]"'),
    'dask.read_partition': ('数据集 {path} 的 {label} 有 {v} 行未通过校验（如：{v2_zh}）。数据集在转换后被改动过；请重新运行 scoring convert，或用 --engine local', '{v} rows of {label} in the dataset {path} fail validation (e.g. {v2_en}). The dataset changed after conversion; run scoring convert again, or use --engine local'),
    'dask.cluster.2': ('无法连接 Dask 调度器 {scheduler}（{connect_timeout} 秒内无响应或地址无效）：{e}', 'cannot reach the Dask scheduler at {scheduler} (no answer within {connect_timeout} s, or not an address): {e}'),
    # --- scoring/review/app.py
    # --- scoring/model/explain.py
    # --- scoring/rules/kinds/claims.py
    'kinds.claims.loss_ratio': ('不低于 {min_lr:.0%}', 'at least {min_lr:.0%}'),
    'kinds.claims.loss_ratio.2': ('不高于 {v:.0%}', 'at most {v:.0%}'),
    # --- scoring/outputs/plots.py
    # --- scoring/review/run.py
    'review.check': ('{path} 不是完整的评分结果目录：缺少 {v_zh}（先运行 scoring score）', '{path} is not a finished run: {v_en} missing (run scoring score first)'),
    # --- scoring/rules/kinds/market.py
    # --- scoring/review/store.py
    'store.init': ('复核数据库 {path} 无法使用：{e}', 'the review database {path} cannot be used: {e}'),
    # --- scoring/rules/kinds/integrity.py
    # --- scoring/submission/convert.py
    # --- scoring/submission/dataset.py
    # --- scoring/outputs/insurers.py
    # --- scoring/rules/kinds/columns.py
    # --- scoring/rules/run.py
    # --- scoring/rules/kinds/policy.py
    # --- scoring/rules/kinds/services.py
    # --- scoring/rules/context.py
    # --- scoring/files.py
    'files.module': ('评分结果', 'a scoring run'),
    'files.module.2': ('校验结果', 'a validation'),
    'files.module.3': ('转换后的数据集', 'a converted dataset'),
    'files.module.4': ('模型', 'a model'),
    'files.module.5': ('估计结果', 'an estimate'),
    'jobs.run_estimate': ('提交数据中没有核查结果（inspections），无法估计各机构的服务缺失比例', 'the submission holds no inspection outcomes to estimate the shares from'),
    "cli.help.estimate_out": ("写出 estimates.csv 与 estimate.json 的文件夹", "the folder estimates.csv and estimate.json are written to"),
    "estimate.summary": ("估计结果 {out}：{groups} 家保险机构，随机抽查 {random} 份、定向核查 {targeted} 份（只有随机抽查用于估计）",
                         "estimates {out}: {groups} insurers, {random} random and {targeted} targeted inspections (only the random ones estimate)"),
    # --- scoring/submission/folder.py
    # --- scoring/model/metrics.py
    # --- the model's reasons (explanations.jsonl text_zh, the report, the review app)
    "reason.up": ("推高{cls}的可能", "raises the chance of {cls}"),
    "reason.down": ("降低{cls}的可能", "lowers the chance of {cls}"),
    "reason.value": ("{name}为 {shown}", "{name} is {shown}"),
    "reason.no_value": ("{name}无记录", "{name}: no record"),
    "reason.typical": ("（同行业通常为 {typical}）", " (typical in the industry: {typical})"),
    "reason.typical_same": (
        "{value}，与同行业通常水平相同；其作用来自与其他特征的组合（{effect}）",
        "{value}, as is typical in the industry; its effect comes from its combination with other features ({effect})",
    ),
    "reason.no_provider": ("无服务记录，无法确定服务主体，按以往总体比例计，{effect}", "no service record, so no provider to judge: the overall past rate applies, which {effect}"),
    "reason.new_provider": ("新出现的服务机构，无以往核查记录，按以往总体比例计，{effect}", "a provider not seen before, without past inspections: the overall past rate applies, which {effect}"),
    "reason.new_insurer": ("新出现的保险机构，无以往核查记录，按以往总体比例计，{effect}", "an insurer not seen before, without past inspections: the overall past rate applies, which {effect}"),
    "reason.memory_provider": ("该服务主体以往核查 {n} 件中{what} {k} 件，{effect}", "of this provider's {n} past inspections {k} found {what}, which {effect}"),
    "reason.memory_insurer": ("该保险机构以往核查 {n} 件中{what} {k} 件，{effect}", "of this insurer's {n} past inspections {k} found {what}, which {effect}"),
    # --- the model registry (decisions.md, retrain's output)
    "registry.rule": (
        "晋升条件：在最新年份（{slice} 抽查样本不足 {min_random} 个时用全部核查）上，挑战者对“{cls}”的平均精确率高于冠军，且配对 bootstrap（{bootstrap} 次）{confidence} 置信区间下限 > 0；任何类别平均精确率下降不超过 {tolerance}；各类 Brier 分数上升不超过 {brier}；评估标签至少 {min_labels} 个、阳性至少 {min_positives} 个。",
        "Promote only if, on the latest year ({slice} slice; all inspections when it has fewer than {min_random}), AP({cls}) improves with the lower bound of a {confidence} paired bootstrap ({bootstrap} draws) interval above 0, no class loses more than {tolerance} AP, Brier rises at most {brier}, with at least {min_labels} labels and {min_positives} positives.",
    ),
    "registry.line": ("{action_zh} {action}：冠军 {before} → {after}", "{action}: champion {before} -> {after}"),
    "registry.line_challenger": ("（挑战者 {challenger}）", " (challenger {challenger})"),
    "registry.metrics": ("{who} {cls}：n={n}，阳性 {positives}，平均精确率 AP {ap}{ci}，Brier {brier}", "{who} {cls}: n={n}, positives {positives}, AP {ap}{ci}, Brier {brier}"),
    "registry.reason": ("理由：{reason}", "reason: {reason}"),
    "registry.ap_ci": ("，AP 差值 90% 区间 {ci}", ", AP difference 90% interval {ci}"),
    "registry.evaluated": ("评估样本：{slice} 共 {n} 个标签{ci}", "evaluated on: {slice}, {n} labels{ci}"),
    "registry.seeded": ("以模型 {version} 作为初始冠军（来自 {source}）；之后的挑战者须按晋升条件胜过它", "started with {version} as champion (from {source}); later challengers must beat it by the rule"),
    # --- the terminal summary of scoring score
    "summary.scored": ("参评保单 {n}", "policies scored: {n}"),
    "summary.rejected": ("拒收数据行 {n}", "rejected rows: {n}"),
    "summary.flagged": ("标记核查（容量 {capacity}）{n}", "flagged (capacity {capacity}): {n}"),
    "summary.versions": ("评估日 {as_of}；模型 {model}；规则库 {rulebook}", "as-of {as_of}; model {model}; rulebook {rulebook}"),
    "summary.engine": ("引擎 Dask，{workers} 个工作进程{where}", "engine Dask, {workers} workers{where}"),
    "summary.not_checkable": ("无法检查：{codes}", "not checkable: {codes}"),
    "summary.out_of_scope": ("评估日后的数据未使用：保单 {policies}，服务记录 {services}，核查 {inspections}", "after the as-of date, not used: policies {policies}, services {services}, inspections {inspections}"),
    "summary.report": ("报告 {path}", "report: {path}"),
    "reasons.rules": ("规则：", "rules: "),
    "reasons.model": ("模型：", "model: "),
    "reasons.evidence": ("证据指数：", "evidence index: "),
    "cli.help.sample_run": ("评分结果目录（scoring score 的 --out）", "a finished run (the --out of scoring score)"),
    "cli.help.sample_out": ("抽查计划写入的 CSV 文件", "the CSV file the plan is written to"),
    "cli.help.sample_capacity": ("可核查的保单总数（默认：评分时的容量）", "how many policies can be inspected in all (default: the run's capacity)"),
    "cli.help.sample_confidence": ("随机组的置信度（默认：规则库 sampling.confidence）", "the random arm's confidence (default: the rulebook's sampling.confidence)"),
    "cli.help.sample_tolerable": ("可容忍的服务缺失比例（默认：规则库）", "the tolerable rate of missing service (default: the rulebook's)"),
    "cli.help.sample_expected": ("预期的服务缺失比例（默认：规则库）", "the expected rate of missing service (default: the rulebook's)"),
    "cli.help.sample_by": ("分层方式：insurer 或 insurer,industry,prefecture", "strata: insurer or insurer,industry,prefecture"),
    "cli.help.sample_seed": ("随机种子（默认：每次新取一个并写入计划）；同一结果、参数与种子给出逐字节相同的计划",
                             "the seed (default: a fresh one each time, written into the plan); the same run, settings and seed give the same plan, byte for byte"),
    "cli.help.workbook_plan": ("抽查计划（scoring sample 的 --out）：其保单列入复核表，随机组的抽查方式预填为随机抽查",
                               "an inspection plan (the --out of scoring sample): its policies join the workbook, the random arm's selection filled in as random"),
    "app.plan": ("无法读取抽查计划 {plan}：{why}", "cannot read the inspection plan {plan}: {why}"),
    "cli.help.review_plan": ("抽查计划（scoring sample 的 --out）：列表可按其随机组/风险组筛选，随机组保单的核查默认记为随机抽查",
                             "an inspection plan (the --out of scoring sample): the list filters by its arms, and a verdict on its random arm is recorded as a random inspection by default"),
    "sampling.expected": ("抽样的预期比例 {expected} 应小于可容忍比例 {tolerable}", "sampling: the expected rate {expected} must be below the tolerable rate {tolerable}"),
    "sampling.strata": ("--strata 应为 insurer 或 insurer,industry,prefecture；现为 {by}", "--strata must be insurer or insurer,industry,prefecture; got {by}"),
    "sampling.summary": (
        "抽查计划 {out}：随机组 {random} 份（按 {by} 分 {n_strata} 层，置信度 {confidence}、可容忍比例 {tolerable}、预期比例 {expected}，种子 {seed}），风险组 {risk} 份，共 {total} 份（容量 {capacity}）",
        "inspection plan {out}: random arm {random} policies ({n_strata} strata by {by}, confidence {confidence}, tolerable {tolerable}, expected {expected}, seed {seed}), risk arm {risk}, {total} in all (capacity {capacity})",
    ),
    "sampling.over_capacity": (
        "随机组 {random} 份已超过容量 {capacity}：风险组为空。可提高 --capacity、放宽 --tolerable，或按较粗的层抽取（--strata insurer）",
        "the random arm ({random}) exceeds the capacity ({capacity}): the risk arm is empty; raise --capacity, loosen --tolerable, or stratify more coarsely (--strata insurer)",
    ),
    "sampling.over_capacity_insurer": (
        "随机组 {random} 份已超过容量 {capacity}：风险组为空。可提高 --capacity，或放宽 --tolerable / 降低 --confidence（每家保险机构的样本随之减少）",
        "the random arm ({random}) exceeds the capacity ({capacity}): the risk arm is empty; raise --capacity, or loosen --tolerable / lower --confidence (each insurer's sample shrinks with them)",
    ),
    "sampling.not_plan": ("{out} 已存在且不是抽查计划；为免覆盖您的文件，拒绝写入", "{out} exists and is not an inspection plan; refusing to overwrite it"),
    "report.worse_lower": ("越少越可疑", "less is worse"),
    "report.worse_higher": ("越多越可疑", "more is worse"),
    "not_visible.permit": ("将投保作为行政审批、许可前置条件：提交数据中不可见", "insurance as a permit precondition: not visible in a submission"),
    "not_visible.corruption": ("腐败问题：提交数据中不可见", "corruption: not visible in a submission"),
    "dask.pass_one": ("第一遍：{n} 条分区内规则、保单特征与跨分区键", "pass one: {n} partition-local rules, policy features and cross-partition keys, per policy year × province"),
    "dask.pass_two": ("第二遍：取回持有共享键的服务记录（{keys}）", "pass two: the records holding a shared key ({keys})"),
    "review.no_submission": (
        "未找到评分所用的提交数据（{submission_zh}），服务记录与企业名称不可用；可用 --submission 指定。",
        "the scored submission ({submission_en}) was not found: service records and enterprise names are unavailable; pass --submission.",
    ),
    # --- the model card (MODEL_CARD.md)
    "card.by_date": (
        "只有一个有标签的年份：按核查日期留出最新的 {share} 核查结果（{since} 至 {until}，{n_test} 个）作验证，其余 {n_train} 个训练；验证后用全部标签重新训练。",
        "One labelled year: the latest {share} of its inspections by date ({since} to {until}, {n_test} labels) were held out, the other {n_train} trained on; then refitted on every label.",
    ),
    "card.by_year": (
        "按年份验证：用 {train_years} 年的 {n_train} 个标签训练，在 {test_year} 年的 {n_test} 个标签上验证；验证后用全部标签重新训练。",
        "Temporal: fitted on {train_years} ({n_train} labels), measured on {test_year} ({n_test} labels); then refitted on every label.",
    ),
    "card.even": ("与逻辑回归基本持平（差 < 0.01），树模型的价值在于约束与解释，而非精度", "about even with logistic regression (within 0.01): the trees' worth is their constraints and explanations, not accuracy"),
    "card.higher": ("比逻辑回归高 {gap}", "{gap} above logistic regression"),
    "card.lower": ("比逻辑回归低 {gap}", "{gap} below logistic regression"),
    "card.baseline": ("{cls}: ROC AUC {auc}，逻辑回归 {lr}，规则计数 {rc}：{verdict}。", "{cls}: ROC AUC {auc} vs logistic regression {lr} vs rule count {rc}: {verdict}."),
    "card.held": (
        "**{cls}：训练标签的交叉验证未显示排序能力**（Platt 斜率 {slope}），斜率按下限保留，概率接近基准率，排序仅供参考。",
        "{cls}: the out-of-fold log-odds did not rank this class (Platt slope {slope}); the slope is held at its floor, probabilities stay near the base rate and the order is weak evidence.",
    ),
    "card.no_worlds": ("未在其他生成世界上评估", "not evaluated on other generated worlds"),
    "card.synthetic": (
        "> **仅用合成数据训练。** 本模型尚未见过真实核查结果；在真实数据上的表现未知。在机制与其训练世界相同的生成世界上它排序良好，在机制不同的留出世界族上（照抄真实记录的虚构、共用照片与文字的集中培训）服务缺失的 ROC AUC 降到 0.67–0.76，与不经训练的证据指数（0.69–0.75）相当（scripts/evidence_index.py）。提交数据与训练数据差异明显时，优先级主要依据证据指数。请随机抽取保单核查，用本地核查结果重新训练（`scoring train` / `scoring retrain`）后再依赖其排序。",
        "**Trained on synthetic data only.** It has never seen a real inspection outcome. On generated worlds of its training mechanics it ranks well; on a held-out family of other mechanics (fabrications copied from genuine records, group trainings sharing photos and texts) its ROC AUC for missing service falls to 0.67-0.76, level with the untrained evidence index (0.69-0.75) (scripts/evidence_index.py). When a submission is unlike its training data the priority rests mainly on the evidence index. Inspect a random draw and retrain on local inspections before relying on its ranking.",
    ),
    # --- the review app and its workbook
    'import.summary': ('工作表“{sheet}”读入 {read} 行：记录 {recorded}，未变 {unchanged}，未复核（空白）{blank}，拒收 {rejected}', 'sheet {sheet}: read {read} rows: recorded {recorded}, unchanged {unchanged}, not reviewed (blank) {blank}, rejected {rejected}'),
    'import.ignored_columns': ('注意：列 {cols_zh} 不是复核表的列，未读取', "note: column(s) {cols_en} are not the workbook's and were not read"),
    'import.ignored_sheet': ('注意：工作表“{name}”有 {n} 行内容，未读取（只读取“{sheet}”）；其中的结论请移到“{sheet}”后再导入', 'note: sheet {name} has {n} rows and was not read (only {sheet} is); move its verdicts there and import again'),
    'import.row': ('{file} 第 {row} 行：{message}', '{file} row {row}: {message}'),
    'workbook.notes': ('填写黄色列：核查结论（服务到位 / 服务质量差 / 服务缺失）、抽查方式（重点抽查 / 随机抽查，空白按重点抽查）、核查日期、核查单位、备注。\n未复核的行保持黄色列为空即可；蓝色列仅供参考，导入时不读取（保单号、核查编号除外）。\n导入（在命令行中，把“姓名”换成复核人）：scoring review import {run} 本文件.xlsx --reviewer 姓名', 'Import: scoring review import {run} this-file.xlsx --reviewer NAME\nFill in the yellow columns (verdict, selection, inspection date, inspector organisation, notes); leave them blank for\npolicies not reviewed. Blue columns are for reference only (policy id and inspection id excepted).'),
    'app.earlier': ('本运行已有 {n} 件保单的复核结论', 'this run already has verdicts on {n} policies'),
    'app.earlier_older': ('；其中 {older} 件记录于本次评分结果生成（{when}）之前，针对的是旧的评分结果，请复查', "{older} of them predate this run's results ({when}) and were made on an earlier scoring: check them again"),
    'app.host': ('拒绝：主机名不是本服务绑定的地址', 'Refused: the Host header is not an address this app is bound to'),
    'app.token': ('未授权：缺少或错误的访问令牌', 'Unauthorized: missing or wrong token'),
    'app.csrf': ('表单已失效或来源不明（CSRF），请刷新页面后重试', 'form expired or of unknown origin (CSRF): reload and retry'),
    'app.form_other_policy': ('表单与页面的保单号不符，未保存', 'the form names another policy than its page; not saved'),
    'app.storage': ('无法保存或读取复核数据（{detail}）；结论未保存，请稍后重试或联系管理员', 'The review data cannot be written or read ({detail}); nothing was saved. Try again later or ask an administrator'),
    # --- the report, its plots and grades
    'report.rate_down': ('可下调约 {change}', 'could fall by about {change}'),
    'report.rate_up': ('需上调约 {change}', 'must rise by about {change}'),
    'report.rate_caveat': ('；单元可信度低，测算以市场经验为主，规则依据的是本单元赔案数与市场频率的显著偏离', "; the cell's credibility is low, so the indication rests mostly on the market, while the rule rests on the cell's claim count being far off the market's frequency"),
    'report.rate_line': ('{insurer} 在{province}{industry}行业 {year} 年保单（{policies} 件）的赔付率为 {lr}（可信度 {z}；赔案 {claims} 件，按市场频率应约 {expected} 件），与市场加权后为 {credible}，按目标赔付率 {target} 测算费率{verb}{caveat}。［{names}］', "{insurer}, {industry} in {province}, {year} policies ({policies}): loss ratio {lr} (credibility {z}; {claims} claims where the market's frequency implies about {expected}), {credible} blended with the market; against the target loss ratio {target} the rate {verb}{caveat}. [{names}]"),
    'report.model_worlds': ('在训练时未见过的 {n} 个生成世界上逐一留出检验：服务缺失 ROC AUC 最低 {m_min}、中位 {m_med}；服务质量差最低 {p_min}、中位 {p_med}。', 'Held out one by one on {n} generated worlds it did not train on: missing service ROC AUC lowest {m_min}, median {m_med}; poor quality lowest {p_min}, median {p_med}.'),
    'report.model_summary': ('模型 {version}：两个梯度提升树分类器（服务缺失 / 服务质量差），带有对保险机构与服务主体以往核查结果的记忆。{validation}（容量 {capacity}）。{held}概率经 Platt 校准；all 为全部留出核查（多为定向抽查），random 为随机抽查子集；少于 100 个标签的指标附 95% 区间。详见模型目录中的 MODEL_CARD.md。', "Model {version}: two gradient-boosted tree classifiers (missing service, poor quality) with a memory of insurers' and providers' past inspections. {validation} (capacity {capacity}). {held}Probabilities are Platt-calibrated; all = every held-out inspection (mostly targeted), random = the random-audit slice; metrics on fewer than 100 labels carry 95% intervals. See MODEL_CARD.md in the model directory."),
    'plot.shap_axis': ('对“{cls}”对数几率的贡献（SHAP）；基准 {base} → 本保单 {own}', 'contribution to the log-odds of {cls} (SHAP); base {base} -> this policy {own}'),
    'plot.loss_axis': ('柱：可信赔付率（颜色越深可信度越高）；◆：本单元赔付率（超过 {cap} 画在 {cap}）\n绿色：规则接受的赔付率区间', "bars: credible loss ratio (darker: more credible); diamonds: the cell's own (beyond {cap} drawn at {cap})\ngreen: the band the rules accept"),
    'grade.flag_rate': ('标记率 ≥ {rate}', 'flag rate ≥ {rate}'),
    'grade.critical_rate': ('有严重发现的保单占比 ≥ {rate}', 'share of policies with a critical finding ≥ {rate}'),
    'grade.spend_below': ('预防费用使用率 < {rate}', 'prevention fee spent < {rate}'),
    'grade.blacklist': ('列为保险机构黑名单候选', 'a blacklist candidate'),
    'grade.or': ('，或', '; or '),
    'grade.a': ('A：以上均不满足', 'A: none of the above'),
    # --- rule conditions as sentences (scoring rules, the report's methodology) and the run of the rules
    'cond.peer_outlier': ('{factors} 偏离同组（{groups}）中位数，稳健 z 值超过 {z}（组内至少 {min_peers} 件）', '{factors} off the median of its peers ({groups}) by a robust z above {z} (at least {min_peers} in the group)'),
    'cond.insurer_blacklist': ('虚构迹象保单占比不低于 {share}，或已结束保单的预防费用使用率低于 {ratio}', 'integrity findings on at least {share} of policies, or less than {ratio} of the prevention fee spent on ended policies'),
    'cond.loss_ratio_low': ('同一保险机构同省同行业同年度保单不少于 {min_policies} 件，赔付率低于 {lr}，且赔案数显著少于按市场频率应有的数量（单侧泊松检验 p < {alpha}）', "at least {min_policies} policies of one insurer, province, industry and year, a loss ratio below {lr}, and significantly fewer claims than the market's frequency implies (one-sided Poisson, p < {alpha})"),
    'cond.loss_ratio_high': ('同一保险机构同省同行业同年度保单不少于 {min_policies} 件，赔付率高于 {lr}，且赔案数显著多于按市场频率应有的数量（单侧泊松检验 p < {alpha}）', "at least {min_policies} policies of one insurer, province, industry and year, a loss ratio above {lr}, and significantly more claims than the market's frequency implies (one-sided Poisson, p < {alpha})"),
    'cond.columns_all_true': ('未全部包含：{columns}', 'not all of: {columns}'),
    'cond.staff_overlap': ('同一人员同日在多家企业服务，合计超过 {hours} 小时或签到相距超过 {km} 公里', 'one staff member at several enterprises on one day, over {hours} hours in all or check-ins over {km} km apart'),
    'not_checkable': ('提交数据缺少 {missing_zh}，无法检查', 'the submission lacks {missing_en}, so this rule cannot be checked'),
    'dataset_more': ('；等共 {n} 处', '; {n} in all'),
    'convert.where': ('数据集 {out}；拒收明细 {rejected}', 'dataset: {out}; rejected rows: {rejected}'),
    # --- the command line
    "cli.help.engine": ("local（单进程，默认）或 dask（Dask 集群）", "local (one process, the default) or dask (a Dask cluster)"),
    "cli.kind_line": ("{name}：{kind_zh}  [范围 {scopes}]", "{name}: {kind_en}  [scopes {scopes}]"),
    "cli.kind_needs": ("  [需要 {tables}]", "  [needs {tables}]"),
    "cli.kind_params": ("参数：{fields}", "params: {fields}"),
    "cli.exported": ("导出 {n} 条核查结果 → {out}", "exported {n} inspections → {out}"),
    "cli.labelled": ("带标签的提交数据 → {out}：原有核查 {before} 条 + 复核 {review} 条", "labelled submission → {out}: {before} earlier inspections + {review} review verdicts (scoring retrain {out} --registry …)"),
    'cli.help.1': ('安责险事故预防服务评估', 'work-safety liability insurance audit'),
    'cli.help.2': ('结果目录', 'results directory'),
    'cli.help.3': ('模型目录，默认为内置冠军模型', 'model directory'),
    'cli.help.4': ('规则库文件', 'rulebook file'),
    'cli.help.5': ('评估日 YYYY-MM-DD，默认取提交数据中最晚日期', 'as-of date'),
    'cli.help.6': ('可核查保单数，默认为 10%', 'policies that can be inspected'),
    'cli.help.7': ('不显示进度', 'no progress output'),
    'cli.help.8': ('Dask 调度器地址，如 tcp://host:8786；不给则在本机启动', 'Dask scheduler address'),
    'cli.help.9': ('本机 Dask 工作进程数，默认 2', 'local Dask worker processes'),
    'cli.help.10': ('写出 rejected.csv 的目录', 'directory for rejected.csv'),
    'cli.help.11': ('不显示进度', 'no progress output'),
    'cli.help.12': ('带核查结果的提交数据', 'labelled submissions'),
    'cli.help.13': ('模型输出目录', 'model directory to write'),
    'cli.help.14': ('随机种子', 'random seed'),
    'cli.help.15': ('带核查结果的提交数据', 'labelled submission'),
    'cli.help.16': ('模型目录或注册库，默认为内置冠军模型', 'model or registry directory (default: the shipped champion)'),
    'cli.help.17': ('输出 JSON', 'print JSON'),
    'cli.help.18': ('带核查结果的提交数据', 'labelled submissions'),
    'cli.help.19': ('模型注册库目录', 'model registry directory'),
    'cli.help.20': ('恢复为指定版本的冠军', 'restore an earlier champion'),
    'cli.help.21': ('空注册库先以内置冠军模型为初始冠军', 'seed an empty registry with the shipped champion'),
    'cli.help.22': ('随机种子', 'random seed'),
    'cli.help.23': ('规则库文件', 'rulebook file'),
    'cli.help.24': ('数据集目录', 'dataset directory'),
    'cli.help.25': ('列出可用的检查类型及其参数', 'list the check kinds and their parameters'),
    'cli.help.26': ('复核：网页复核、导出核查结果、Excel 复核表', 'evaluator review'),
    'cli.help.27': ('scoring score 的结果目录', 'a finished run directory'),
    'cli.help.28': ('监听地址', 'address to bind'),
    'cli.help.29': ('端口；0 表示任选空闲端口', 'port (0: any free port)'),
    'cli.help.30': ('复核数据库文件，默认 RUN_DIR/review.sqlite', 'review database'),
    'cli.help.31': ('结果目录', 'run directory'),
    'cli.help.32': ('输出的 inspections.csv', 'inspections table to write'),
    'cli.help.33': ('另写出一份可直接用于 retrain 的提交数据文件夹', 'also write a submission folder ready for retrain'),
    'cli.help.34': ('结果目录', 'run directory'),
    'cli.help.35': ('输出的 .xlsx', 'workbook to write'),
    'cli.help.36': ('结果目录', 'run directory'),
    'cli.help.37': ('填写后的复核表 .xlsx', 'the filled workbook'),
    'cli.help.38': ('复核人', 'who reviewed'),
    'cli.help.39': ('拒收行写出到此 CSV', 'write rejected rows here'),
    'cli.help.token': ('访问令牌（至少 {min} 个字符）；绑定非本机地址而未给出时自动生成', 'access token (at least {min} characters); made up when binding off loopback without one'),
    'cli.evaluate_head': ('模型 {version}，评估日 {as_of}，容量 {capacity}', 'model {version}, as-of {as_of}, capacity {capacity}'),
    'cli.not_a_run': ('{run_dir} 不是评分结果目录', '{run_dir} is not a run directory'),
    'cli.out_or_labelled': ('请给出 --out 或 --labelled', 'give --out or --labelled'),
}


def render(key: str, **fields) -> tuple[str, str]:
    """Return the ``(zh, en)`` message ``key`` filled with ``fields``."""
    zh, en = TEMPLATES[key]
    return zh.format(**fields), en.format(**fields)


def zh_text(key: str, **fields) -> str:
    """The Chinese line of ``key`` alone (texts a reader sees in Chinese only: reasons, the report)."""
    return TEMPLATES[key][0].format(**fields)


def both(key: str, **fields) -> str:
    """The message ``key`` in one line, Chinese first: ``中文 / English`` (help texts, progress)."""
    return " / ".join(render(key, **fields))


def error_text(zh: str, en: str) -> str:
    """An error as the terminal shows it: ``错误：…`` then ``Error: …``."""
    return f"错误：{zh}\nError: {en}"
