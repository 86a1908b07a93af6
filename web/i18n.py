"""The interface in Chinese (default) and English: message catalog and language choice."""

from __future__ import annotations

import re

from fastapi import Request

LANGUAGES = ("zh", "en")
LANG_COOKIE = "kb_lang"

# key: (中文, English). Keep keys grouped by page.
MESSAGES: dict[str, tuple[str, str]] = {
    # layout
    "app.name": ("销售经验库", "Sales Lessons"),
    "nav.search": ("搜索", "Search"),
    "nav.new_review": ("提交复盘", "Submit a review"),
    "nav.sets": ("课程集", "Lesson sets"),
    "nav.documents": ("文档", "Documents"),
    "nav.insights": ("洞察", "Insights"),
    "nav.login": ("登录", "Sign in"),
    "nav.logout": ("退出", "Sign out"),
    "nav.switch": ("English", "中文"),
    "error.title": ("出错了", "Something went wrong"),
    "error.back": ("返回首页", "Back to search"),
    # login
    "login.title": ("登录", "Sign in"),
    "login.name": ("用户名", "User name"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Sign in"),
    "login.failed": ("用户名或密码不正确", "Wrong user name or password"),
    # kinds and outcomes
    "kind.playbook": ("打法手册", "Playbook"),
    "kind.review": ("复盘", "Review"),
    "outcome.win": ("赢单", "Win"),
    "outcome.loss": ("丢单", "Loss"),
    "outcome.no-decision": ("客户未决", "No decision"),
    "outcome.unknown": ("未知", "Unknown"),
    # field errors shown beside form fields (reviews and lesson sets); see field_error()
    "err.outcome": ("请选择一个结果", "Choose an outcome"),
    "err.required": ("必填", "Required"),
    "err.customer_required": ("必填；可以匿名，例如“华东某城商行”", "Required; an anonymised name such as 华东某城商行 is fine"),
    "err.lessons_required": ("至少写一条经验教训，每行一条", "Write at least one lesson learned, one per line"),
    "err.too_many_lessons": ("每份复盘最多 {n} 条经验教训", "At most {n} lessons per review"),
    "err.too_many_competitors": ("最多填写 {n} 个竞争对手", "At most {n} competitors"),
    "err.lesson_too_long": ("每条经验教训最多 {n} 个字", "Each lesson may have at most {n} characters"),
    "err.too_long": ("太长了：最多 {n} 个字", "Too long: at most {n} characters"),
    "err.positive_number": ("请填写一个正数，例如 580000", "Enter a positive number, such as 580000"),
    "err.date_format": ("日期格式为 YYYY-MM-DD", "Use the form YYYY-MM-DD"),
    "err.no_lesson": ("找不到这条经验", "There is no such lesson"),
    # review form and review page (web/routes/reviews.py: review_form.html, review.html)
    "review.new_title": ("提交复盘", "Submit a win/loss review"),
    "review.edit_title": ("编辑复盘", "Edit review"),
    "review.intro": (
        "只有结果、客户和经验教训是必填的，两分钟就能写完；其余信息可以展开补充。",
        "Only the outcome, the customer and the lessons are required — two minutes is enough. Add more below if you like.",
    ),
    "review.required_mark": ("必填", "required"),
    "review.outcome": ("结果", "Outcome"),
    "review.outcome.win": ("赢单", "Won"),
    "review.outcome.loss": ("输给竞争对手", "Lost to a competitor"),
    "review.outcome.no-decision": ("客户未决策", "Customer did not decide"),
    "review.outcome.unknown": ("不确定", "Not sure"),
    "review.customer": ("客户", "Customer"),
    "review.customer_hint": ("可以匿名，例如“华东某城商行”", 'May be anonymised, e.g. "a city commercial bank in East China"'),
    "review.lessons": ("经验教训", "Lessons learned"),
    "review.lessons_hint": ("每行一条，每一条都会成为一条可搜索的经验", "One per line; each line becomes a searchable lesson"),
    "review.optional": ("补充更多信息（可选）", "More details (optional)"),
    "review.title": ("标题", "Title"),
    "review.title_hint": ("留空会按客户和结果自动生成", "Left empty, it is made from the customer and the outcome"),
    "review.industry": ("行业", "Industry"),
    "review.region": ("区域", "Region"),
    "review.deal_size": ("项目金额", "Deal size"),
    "review.currency": ("币种", "Currency"),
    "review.competitors": ("竞争对手", "Competitors"),
    "review.competitors_hint": ("用逗号分隔，可以匿名", "Comma-separated; may be anonymised"),
    "review.stage": ("推进到的阶段", "Stage reached"),
    "review.stage.none": ("（未填写）", "(not given)"),
    "review.close_date": ("结单日期", "Close date"),
    "review.summary": ("项目背景", "Background"),
    "review.what_worked": ("做得好的", "What worked"),
    "review.what_went_wrong": ("做得不好的", "What went wrong"),
    "review.next_actions": ("下一步", "Next actions"),
    "review.submit": ("提交复盘", "Submit review"),
    "review.save": ("保存修改", "Save changes"),
    "review.cancel": ("取消", "Cancel"),
    "review.has_errors": ("有几处需要修改，见标红字段旁的说明。", "Some fields need attention — see the messages beside them."),
    "review.submitted": ("复盘已提交，其中的经验现在就能搜索到。", "Review submitted — its lessons are searchable now."),
    "review.saved": ("修改已保存。", "Changes saved."),
    "review.edit": ("编辑这份复盘", "Edit this review"),
    "review.author": ("作者", "Author"),
    "review.date": ("日期", "Date"),
    "review.lessons_heading": ("从这份复盘提取的经验", "Lessons from this review"),
    "review.learned_before": ("之前学到过", "This was learned before"),
    "review.nothing_before": ("知识库里还没有相似的经验。", "Nothing similar in the knowledge base yet."),
    "review.similarity": ("相似度", "similarity"),
    "stage.lead": ("线索", "Lead"),
    "stage.discovery": ("需求确认", "Discovery"),
    "stage.proposal": ("方案", "Proposal"),
    "stage.bid": ("投标", "Bid"),
    "stage.negotiation": ("商务谈判", "Negotiation"),
    "stage.contract": ("签约", "Contract"),
    "stage.delivery": ("交付", "Delivery"),
    # lesson sets (web/routes/sets.py: sets.html, set.html, set_print.html)
    "sets.title": ("课程集", "Lesson sets"),
    "sets.intro": (
        "培训师把经验串成有顺序、带讲解的课程集，用于新人培训。",
        "Trainers put lessons into ordered, annotated sets for onboarding.",
    ),
    "sets.empty": ("还没有课程集。", "No lesson sets yet."),
    "sets.col.title": ("标题", "Title"),
    "sets.col.audience": ("面向", "Audience"),
    "sets.col.count": ("经验数", "Lessons"),
    "sets.col.updated": ("更新时间", "Updated"),
    "sets.create": ("新建课程集", "New lesson set"),
    "sets.field.title": ("标题", "Title"),
    "sets.field.audience": ("面向人群", "Audience"),
    "sets.field.audience_hint": ("例如“入职第一个月的新销售”", 'e.g. "new reps, first month"'),
    "sets.field.description": ("说明", "Description"),
    "sets.create_submit": ("创建", "Create"),
    "set.export": ("导出 Markdown", "Export Markdown"),
    "set.print": ("打印版", "Print"),
    "set.items": ("经验", "Lessons"),
    "set.empty": (
        "这个课程集还没有经验：在经验页面上点“加入课程集”，或在下面粘贴经验编号。",
        'This set has no lessons yet: use "Add to set" on a lesson page, or paste a lesson id below.',
    ),
    "set.up": ("上移", "Up"),
    "set.down": ("下移", "Down"),
    "set.remove": ("移除", "Remove"),
    "set.note": ("讲解", "Note"),
    "set.note_hint": ("写给学员：为什么读这一条、要注意什么", "For the learners: why read this one, what to look for"),
    "set.save_note": ("保存讲解", "Save note"),
    "set.missing_lesson": ("这条经验已不在知识库中", "This lesson is no longer in the knowledge base"),
    "set.edit": ("修改课程集信息", "Edit set details"),
    "set.save": ("保存", "Save"),
    "set.delete": ("删除课程集", "Delete this set"),
    "set.delete_warning": ("删除后无法恢复；其中的经验本身不会被删除。", "This cannot be undone; the lessons themselves stay in the knowledge base."),
    "set.add": ("添加经验", "Add a lesson"),
    "set.count": ("{n} 条经验", "{n} lessons"),
    "set.lesson_ref": ("经验编号或链接", "Lesson id or link"),
    "set.add_hint": ("粘贴经验编号或经验页面的链接", "Paste a lesson id or the link of a lesson page"),
    "set.add_submit": ("添加", "Add"),
    "set.updated": ("更新于", "Updated"),
    "set.back": ("返回课程集", "Back to the set"),
    "set.print_button": ("打印", "Print"),
    "set.for": ("面向", "For"),
    "set.all_sets": ("全部课程集", "All lesson sets"),
    "set.has_errors": ("没有保存：请看标红的说明。", "Not saved — see the message in red."),
    # search page (web/routes/search.py: search.html)
    "search.title": ("搜索经验", "Search lessons"),
    "search.placeholder": ("问个问题，例如：怎样找到客户内部的教练？", "Ask a question, e.g. how do I find a coach inside the customer?"),
    "search.submit": ("搜索", "Search"),
    "search.intro": (
        "在打法手册和赢丢单复盘里找经验；中文、英文提问都可以。",
        "Find lessons in playbooks and win/loss reviews; ask in Chinese or English.",
    ),
    "search.any": ("全部", "Any"),
    "search.kind": ("类型", "Kind"),
    "search.outcome": ("结果", "Outcome"),
    "search.industry": ("行业", "Industry"),
    "search.tag": ("主题", "Topic"),
    "search.source": ("来源文档", "Source document"),
    "search.too_long": ("问题太长了：最多 {n} 个字符，请缩短后再搜。", "The question is too long: at most {n} characters. Please shorten it."),
    "search.results_for": ("搜索结果：", "Results for"),
    "search.page": ("第 {n} 页", "page {n}"),
    "search.from": ("出自", "from"),
    "search.weak": (
        "知识库里没有真正切题的经验。下面只是最接近的几条，仅供参考。",
        "The knowledge base has no lesson that really answers this. Below are only the nearest ones.",
    ),
    "search.no_results": ("没有找到相关经验。可以换个说法、去掉筛选条件，或看看下面的主题。", "No lessons found. Try other words, fewer filters, or one of the topics below."),
    "search.browse": ("符合筛选条件的经验", "Lessons matching the filters"),
    "search.no_lessons": ("没有符合这些筛选条件的经验。", "No lessons match these filters."),
    "search.try_tags": ("相关主题", "Related topics"),
    "search.popular_tags": ("常见主题", "Popular topics"),
    "search.pages": ("翻页", "Pages"),
    "search.prev": ("上一页", "Previous"),
    "search.next": ("下一页", "Next"),
    # lesson page (web/routes/lessons.py: lesson.html)
    "lesson.review": ("复盘信息", "Review details"),
    "lesson.field.outcome": ("结果", "Outcome"),
    "lesson.field.customer": ("客户", "Customer"),
    "lesson.field.industry": ("行业", "Industry"),
    "lesson.field.region": ("区域", "Region"),
    "lesson.field.deal_size": ("项目金额", "Deal size"),
    "lesson.field.currency": ("币种", "Currency"),
    "lesson.field.competitors": ("竞争对手", "Competitors"),
    "lesson.field.stage": ("推进到的阶段", "Stage reached"),
    "lesson.field.date": ("日期", "Date"),
    "lesson.field.author": ("作者", "Author"),
    "lesson.related": ("相关经验", "Related lessons"),
    "lesson.no_related": ("暂时没有相关经验。", "No related lessons yet."),
    "lesson.add_to_set": ("加入课程集", "Add to a lesson set"),
    "lesson.set": ("课程集", "Lesson set"),
    "lesson.note": ("讲解", "Note"),
    "lesson.note_hint": ("（可选）", "(optional)"),
    "lesson.add": ("加入", "Add"),
    "lesson.no_sets": ("还没有课程集，先新建一个：", "There are no lesson sets yet; create one first:"),
    # documents page and uploads (web/routes/documents.py: documents.html)
    "documents.title": ("已导入的文档", "Ingested documents"),
    "documents.doc_title": ("标题", "Title"),
    "documents.file": ("文件名", "File"),
    "documents.format": ("格式", "Format"),
    "documents.kind": ("类型", "Kind"),
    "documents.lessons": ("经验数", "Lessons"),
    "documents.ingested_at": ("导入时间 (UTC)", "Ingested (UTC)"),
    "documents.none": ("还没有导入任何文档。", "No documents have been ingested yet."),
    "documents.show_lessons": ("查看经验", "Show its lessons"),
    "upload.title": ("上传文档", "Upload documents"),
    "upload.choose": ("选择文件（可多选）", "Choose files (several at once)"),
    "upload.hint": (
        "支持 {suffixes}；每个文件最大 {mb} MB，一次最多 {n} 个。上传后立即可以搜索。",
        "{suffixes}; up to {mb} MB each, {n} files at a time. Searchable as soon as the upload finishes.",
    ),
    "upload.submit": ("上传并导入", "Upload and ingest"),
    "upload.results": ("上传结果", "Upload results"),
    "upload.file": ("文件", "File"),
    "upload.status": ("状态", "Status"),
    "upload.detail": ("说明", "Details"),
    "upload.status.added": ("已导入", "Added"),
    "upload.status.updated": ("已更新", "Updated"),
    "upload.status.unchanged": ("已存在（内容相同）", "Already in the knowledge base"),
    "upload.status.failed": ("失败", "Failed"),
    "upload.problem.unsupported": ("不支持这种文件类型；支持：{suffixes}", "This file type is not supported; use {suffixes}"),
    "upload.problem.too_large": ("文件太大：每个文件最大 {mb} MB", "The file is too large: at most {mb} MB per file"),
    "upload.problem.empty": ("文件是空的", "The file is empty"),
    # insights page (web/routes/insights.py: insights.html)
    "insights.title": ("洞察", "Insights"),
    "insights.documents": ("文档", "documents"),
    "insights.lessons": ("条经验", "lessons"),
    "insights.review_lessons": ("条来自复盘", "from reviews"),
    "insights.queries": ("次搜索", "searches"),
    "insights.by_kind": ("按类型", "Lessons by kind"),
    "insights.by_outcome": ("复盘经验按结果", "Review lessons by outcome"),
    "insights.by_industry": ("复盘经验按行业", "Review lessons by industry"),
    "insights.by_tag": ("按主题", "Lessons by topic"),
    "insights.lessons_by_month": ("每月新增经验", "Lessons per month"),
    "insights.queries_by_month": ("每月搜索次数", "Searches per month"),
    "insights.no_data": ("暂无数据。", "No data yet."),
    "insights.gaps": ("知识缺口", "Knowledge gaps"),
    "insights.gaps_hint": (
        "没有结果、或没有一条结果真正切题的搜索：值得补充经验的问题。",
        "Searches with no results or none that really matched: questions worth writing lessons for.",
    ),
    "insights.no_gaps": ("目前没有知识缺口。", "No knowledge gaps so far."),
    "insights.frequent": ("最常搜索", "Most frequent searches"),
    "insights.frequent_hint": ("按次数排序", "By number of times asked"),
    "insights.no_queries": ("还没有人搜索过。", "Nobody has searched yet."),
    "insights.query": ("搜索词", "Query"),
    "insights.times": ("次数", "Times"),
    "insights.results": ("结果数", "Results"),
    "insights.similarity": ("最佳相似度", "Best similarity"),
}

# validation messages of ingest/reviews.py and kb/lesson_sets.py → message keys (with {n})
_FIELD_ERRORS: tuple[tuple[str, str], ...] = (
    (r"^choose one of", "err.outcome"),
    (r"^is required \(an anonymised", "err.customer_required"),
    (r"^is required", "err.required"),
    (r"^write at least one lesson", "err.lessons_required"),
    (r"^at most (\d+) lessons", "err.too_many_lessons"),
    (r"^at most (\d+) competitors", "err.too_many_competitors"),
    (r"^each lesson must be at most (\d+)", "err.lesson_too_long"),
    (r"^(?:must be at most|is longer than) (\d+) characters", "err.too_long"),
    (r"^must be a positive number", "err.positive_number"),
    (r"^use the form YYYY-MM-DD", "err.date_format"),
    (r"^no lesson ", "err.no_lesson"),
)


def language(request: Request) -> str:
    """?lang= wins (and is remembered in a cookie by the middleware), then the cookie, then Chinese."""
    lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "zh"
    return lang if lang in LANGUAGES else "zh"


def translate(key: str, lang: str) -> str:
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    return pair[LANGUAGES.index(lang)]


def field_error(message: str, lang: str) -> str:
    """A validation message of kb (English) in the interface language, for display beside a field."""
    for pattern, key in _FIELD_ERRORS:
        match = re.match(pattern, message)
        if match:
            return translate(key, lang).format(n=match.group(1) if match.groups() else "")
    return message


def translate_value(prefix: str, value: str, lang: str) -> str:
    """The label of a stored value (``kind.`` + ``review`` → 复盘); a value without one is shown as it is."""
    key = f"{prefix}{value}"
    return translate(key, lang) if key in MESSAGES else value
